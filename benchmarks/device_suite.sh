#!/usr/bin/env bash
# The GPU suite on a lent machine, prepared to be the device tool's one command:
#
#   bash benchmarks/device_suite.sh [--dry-run]
#
# Beforehand, here: `bash benchmarks/device_wheels.sh` (the wheels, in .whl/) and the two
# reference checkouts copied into .peers/stylegan2-ada-pytorch and .peers/R3GAN; the run
# carries .whl and .peers. There: the wheels are installed with --no-deps on top of the
# image's JAX and PyTorch (its python3 holds both), then benchmarks/gpu_suite.sh runs with
# that Python on both sides. Results land in benchmarks/results/gpu_suite_<date>/; when the
# device tool's $OUT is set, the report (gpu_suite.md, gpu_suite.json) and one archive of
# everything else (the rows and the logs) are copied there, within its 8-file limit.

set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
BACK=${OUT:-}
if ! ls .whl/*.whl >/dev/null 2>&1; then
  echo "no wheels in .whl/: run benchmarks/device_wheels.sh here and carry .whl" >&2
  exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gan_jax_site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/gan_jax_site${PYTHONPATH:+:$PYTHONPATH}
export GAN_JAX_PYTHON=python3 GAN_JAX_TORCH_PYTHON=python3
export STYLEGAN2_ADA_PYTORCH=${STYLEGAN2_ADA_PYTORCH:-$REPO/.peers/stylegan2-ada-pytorch}
export R3GAN_CHECKOUT=${R3GAN_CHECKOUT:-$REPO/.peers/R3GAN}
RESULTS=$REPO/benchmarks/results/gpu_suite_$(date +%Y-%m-%d)
OUT=$RESULTS bash benchmarks/gpu_suite.sh "$@"
rc=$?
if [ -n "$BACK" ]; then
  cp "$RESULTS"/gpu_suite.md "$RESULTS"/gpu_suite.json "$BACK"/ 2>/dev/null
  tar -czf "$BACK/gpu_suite_rows_and_logs.tgz" -C "$RESULTS" .
fi
exit $rc
