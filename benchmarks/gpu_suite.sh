#!/usr/bin/env bash
# gan_jax's GPU suite: every accelerator check in one command, all results in one folder.
#
#   GAN_JAX_TORCH_PYTHON=/path/to/python-with-torch bash benchmarks/gpu_suite.sh
#   GAN_JAX_TORCH_PYTHON=/path/to/python-with-torch bash benchmarks/gpu_suite.sh --dry-run
#
# Checks, each in its own process, one after the other (never two on the device at once):
#   plan           the three models as gan_jax configs and their parameter counts (suite_plan.py)
#   machine        device, driver and CUDA, jax/jaxlib/flax/optax/torch versions, date
#   peaks          the measured fp32 and bf16 matmul peak, the MFU denominators (suite_mfu.py)
#   jax_steps      gan_jax's compiled train step of DCGAN-64 (batch 128), SNGAN-32 (256) and
#                  BigGAN-128 (256), bf16 and fp32: images/s, XLA's FLOPs per step, MFU
#   torch_eager    the same steps and networks in PyTorch eager (parameter counts checked)
#   torch_compile  the same under torch.compile
#   pipeline       the input pipeline's images/s against what each step consumes
#   fid_jax        gan_jax's FID Inception pool3 features of random images, random weights
#   fid_torch      pytorch-fid's network on the same weights and images: the differences
#   ref_jax        the models people train today: StyleGAN2 at 256 px (NVlabs' paper256) and
#                  1024 px (config F), R3GAN at 256 px (its FFHQ-256 preset), each in float32 and
#                  with its highest resolutions in bf16: s/kimg over whole lazy cycles, GPU
#                  memory, MFU (suite_reference_jax.py)
#   ref_nvlabs     NVlabs' own training iteration on the StyleGAN2 rows, its CUDA kernels
#                  (suite_reference_torch.py; needs STYLEGAN2_ADA_PYTORCH, a checkout)
#   ref_r3gan      brownvc's on the R3GAN row (needs R3GAN_CHECKOUT)
#   report         OUT/gpu_suite.json and OUT/gpu_suite.md (suite_report.py)
#
# Environment:
#   OUT                   results folder (default benchmarks/results/gpu_suite_<date>, or
#                         gpu_suite_dryrun_<date> for a dry run)
#   GAN_JAX_PYTHON        the Python with gan_jax (default: this checkout's .venv, else python)
#   GAN_JAX_TORCH_PYTHON  a Python with torch and pytorch-fid for the PyTorch side (default:
#                         python, when it imports torch); without it those checks are skipped
#   STYLEGAN2_ADA_PYTORCH, R3GAN_CHECKOUT   the reference codebases' checkouts (absent: skipped)
#   GAN_JAX_SUITE_DRY_RUN=1   the same as --dry-run: every check at tiny sizes, for a CPU
#   GAN_JAX_SUITE_LIMITS=0    no per-check time limits (a dry run has none)
#
# Time: each check has a limit (seconds, below; together 480 s, 8 minutes of device time); the
# step checks write each row as soon as it is measured, so a limit loses only the row in
# progress. A check that fails, runs out of time or lacks its peer is recorded in
# OUT/status.jsonl with the reason, and the suite goes on; logs are in OUT/logs/.

set -u

DRY=${GAN_JAX_SUITE_DRY_RUN:-0}
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (use --dry-run or --help)" >&2; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
if [ -n "${GAN_JAX_PYTHON:-}" ]; then PY=$GAN_JAX_PYTHON
elif [ -x "$REPO/.venv/bin/python" ]; then PY=$REPO/.venv/bin/python
else PY=python; fi
TORCH_PY=${GAN_JAX_TORCH_PYTHON:-python}
SUFFIX=$([ "$DRY" = 1 ] && echo dryrun_ || true)
OUT=${OUT:-$REPO/benchmarks/results/gpu_suite_${SUFFIX}$(date +%Y-%m-%d)}
LOGS=$OUT/logs
mkdir -p "$LOGS"
rm -f "$OUT"/status.jsonl "$OUT"/jax_steps.jsonl "$OUT"/torch_eager.jsonl "$OUT"/torch_compile.jsonl \
  "$OUT"/reference_*.jsonl
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

LIMITED=1
if [ "$DRY" = 1 ] || [ "${GAN_JAX_SUITE_LIMITS:-1}" = 0 ]; then LIMITED=0; fi
declare -A LIMIT=(
  [plan]=25 [machine]=10 [peaks]=15 [jax_steps]=100 [torch_eager]=35 [torch_compile]=60
  [pipeline]=10 [fid_jax]=20 [fid_torch]=15 [ref_jax]=100 [ref_nvlabs]=55 [ref_r3gan]=30 [report]=5
)

status() {  # check status seconds detail: one JSON line in OUT/status.jsonl
  "$PY" -c 'import json, sys; print(json.dumps(dict(zip(("check", "status", "seconds", "detail"), (sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])))))' \
    "$1" "$2" "$3" "$4" >>"$OUT/status.jsonl"
  echo "== $1: $2 (${3}s)${4:+: $4}"
}

check() {  # name command...: runs one check under its limit, logs it, records its status
  local name=$1 limit start rc detail state
  shift
  limit=$([ "$LIMITED" = 1 ] && echo "${LIMIT[$name]}" || echo 0)
  echo "== $name$([ "$limit" != 0 ] && echo " (limit ${limit}s)")"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) state=ok; detail="" ;;
    124 | 137) state="timed out"; detail="the ${limit} s limit was reached; rows measured before it are kept" ;;
    *) state=failed; detail="exit $rc: $(grep -v '^\s*$' "$LOGS/$name.log" | tail -n 1 | cut -c1-300)" ;;
  esac
  status "$name" "$state" $(($(date +%s) - start)) "$detail"
  return "$rc"
}

skip() {  # name reason
  status "$1" skipped 0 "$2"
}

DRY_FLAG=$([ "$DRY" = 1 ] && echo --dry-run || true)
echo "gan_jax GPU suite$([ "$DRY" = 1 ] && echo ' (DRY RUN: tiny sizes)'): results in $OUT"
echo "gan_jax Python: $PY; torch Python: $TORCH_PY"

if ! check plan "$PY" benchmarks/suite_plan.py $DRY_FLAG --out "$OUT/plan.json"; then
  echo "the plan could not be made; nothing else can run" >&2
  exit 1
fi

TORCH_WHY=""
if ! "$TORCH_PY" -c "import torch" >/dev/null 2>&1; then
  TORCH_WHY="no PyTorch: '$TORCH_PY' cannot import torch (set GAN_JAX_TORCH_PYTHON to a Python with torch)"
  echo "note: $TORCH_WHY"
fi
FID_WHY=$TORCH_WHY
if [ -z "$FID_WHY" ] && ! "$TORCH_PY" -c "import pytorch_fid" >/dev/null 2>&1; then
  FID_WHY="no pytorch-fid in '$TORCH_PY' (pip install pytorch-fid)"
fi

check machine "$PY" benchmarks/suite_machine.py --torch-python "$([ -z "$TORCH_WHY" ] && echo "$TORCH_PY")" \
  --out "$OUT/machine.json"
check peaks "$PY" benchmarks/suite_mfu.py --plan "$OUT/plan.json" --out "$OUT/peaks.json"
check jax_steps "$PY" benchmarks/suite_jax_steps.py --plan "$OUT/plan.json" --peaks "$OUT/peaks.json" \
  --out "$OUT/jax_steps.jsonl"
for mode in eager compile; do
  if [ -n "$TORCH_WHY" ]; then
    skip "torch_$mode" "$TORCH_WHY"
  else
    check "torch_$mode" "$TORCH_PY" benchmarks/suite_torch_steps.py --plan "$OUT/plan.json" --mode "$mode" \
      --out "$OUT/torch_$mode.jsonl"
  fi
done
check pipeline "$PY" benchmarks/suite_pipeline.py --plan "$OUT/plan.json" --steps "$OUT/jax_steps.jsonl" \
  --out "$OUT/pipeline.json"
if [ -n "$FID_WHY" ]; then
  skip fid_jax "$FID_WHY (nothing to compare gan_jax's features with)"
  skip fid_torch "$FID_WHY"
elif check fid_jax "$PY" benchmarks/suite_fid_inception.py --plan "$OUT/plan.json" --work "$WORK"; then
  check fid_torch "$TORCH_PY" benchmarks/peers/fid_inception_torch.py --work "$WORK" \
    --out "$OUT/fid_inception.json"
else
  skip fid_torch "gan_jax's features were not computed (fid_jax did not finish)"
fi
check ref_jax "$PY" benchmarks/suite_reference_jax.py --plan "$OUT/plan.json" --peaks "$OUT/peaks.json" \
  --out "$OUT/reference_gan_jax.jsonl"
for peer in nvlabs r3gan; do
  var=$([ "$peer" = nvlabs ] && echo STYLEGAN2_ADA_PYTORCH || echo R3GAN_CHECKOUT)
  checkout=${!var:-}
  if [ -n "$TORCH_WHY" ]; then
    skip "ref_$peer" "$TORCH_WHY"
  elif [ -z "$checkout" ] || [ ! -d "$checkout/training" ]; then
    skip "ref_$peer" "no checkout: set $var to a checkout of the $peer code"
  else
    check "ref_$peer" "$TORCH_PY" benchmarks/suite_reference_torch.py --plan "$OUT/plan.json" --peer "$peer" \
      --checkout "$checkout" --out "$OUT/reference_$peer.jsonl"
  fi
done
check report "$PY" benchmarks/suite_report.py --out "$OUT"
