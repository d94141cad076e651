#!/usr/bin/env bash
# The wheels the GPU suite needs on a lent machine whose image has its own Python, JAX
# (with its CUDA plugin), Flax, Optax, Orbax, NumPy and PyTorch but nothing else of
# gan_jax's, and which can fetch nothing: gan_jax itself, and what it imports that the
# image lacks (ml_collections, array_record, tensorboardX; pytorch-fid for the Inception
# check), each at the version constraints.txt pins, fetched here for the image's Python.
#
#   bash benchmarks/device_wheels.sh                 # cp312 wheels into .whl/ (the image's Python)
#   bash benchmarks/device_wheels.sh --dry-run       # the same set for this machine's Python, then
#                                                    # installed and tried in a fresh venv (below)
#
# On the machine, in front of the suite (the image's jax stays; nothing is resolved):
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site GAN_JAX_PYTHON=python3 GAN_JAX_TORCH_PYTHON=python3
#
# The dry run proves the recipe before device time is spent: a fresh venv gets a stand-in of
# the image (jax, jaxlib, flax, optax, orbax-checkpoint, numpy, pillow, scipy, packaging,
# protobuf, pyyaml: all in its package list; from the package index, at constraints.txt's
# versions where it pins them; not torch, which only the PyTorch checks import and which
# the image has), then the wheel set with --no-deps and --no-index, exactly as on the
# machine; gan_jax must import, make the suite's dry-run plan and train two steps of
# configs/tiny.py on synthetic data. The stand-in has this registry's newest JAX, which
# may be older than the image's.
#
# Environment: DEST (default .whl), PYVER (default 3.12), DRY_VENV (default
# /tmp/gan_jax_device_dryrun). The wheels must stay under the device tool's 64 MiB a call.

set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (use --dry-run or --help)" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3}
DEST=${DEST:-.whl}
PYVER=${PYVER:-3.12}
[ "$DRY" = 1 ] && PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PACKAGES=(ml_collections array_record tensorboardX pytorch-fid)
MAX_MIB=64

pin() {  # the version constraints.txt pins for a package, else nothing
  local line
  line=$(grep -iE "^${1//[-_]/[-_]}==" constraints.txt || true)
  echo "${line:-$1}"
}

rm -rf "$DEST" && mkdir -p "$DEST"
"$PYTHON" -m pip wheel -q --no-deps -w "$DEST" .
specs=()
for p in "${PACKAGES[@]}"; do specs+=("$(pin "$p")"); done
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64)
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  "${platforms[@]}" -d "$DEST" "${specs[@]}"
size=$(du -sm "$DEST" | cut -f1)
echo "wheels for Python $PYVER in $DEST (${size} MiB):"
ls -1 "$DEST"
if [ "$size" -gt "$MAX_MIB" ]; then
  echo "the wheels are over the ${MAX_MIB} MiB a device call carries" >&2
  exit 1
fi
[ "$DRY" = 1 ] || exit 0

VENV=${DRY_VENV:-/tmp/gan_jax_device_dryrun}
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
image=()
for p in jax jaxlib flax optax orbax-checkpoint numpy pillow scipy packaging protobuf pyyaml; do image+=("$(pin "$p")"); done
echo "stand-in of the image: ${image[*]}"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${image[@]}"
SITE=$(mktemp -d)
"$VENV/bin/python" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$DEST"/*.whl
export PYTHONPATH=$SITE JAX_PLATFORMS=cpu
cd "$(mktemp -d)"
"$VENV/bin/python" -c 'import gan_jax, gan_jax.run.trainer, gan_jax.metrics.evaluator, ml_collections, array_record; print("gan_jax", gan_jax.__version__, "imports")'
"$VENV/bin/python" "$REPO/benchmarks/suite_plan.py" --dry-run --out plan.json
"$VENV/bin/python" -m gan_jax.tools.train --config tiny --workdir tiny --config.dataset.source=synthetic \
  --config.num_steps=2 --config.sample_every=0 --config.log_every=1
echo "dry run: the wheel set installs with --no-deps over the stand-in and gan_jax trains"
