#!/usr/bin/env bash
# The one-shot GPU check (docs/performance.md#gpu-check): one table of training it/s (SN / BSN / SN_Conv
# × serial and fused packs of 1/4/16 × fp32, SN in tf32 and bf16, eager and CUDA graphs, with the FLOP
# rate against the peak), the plain PyTorch-SN loop, ops per iteration, paper-protocol evaluations in
# fp32/tf32/bf16, peak GPU memory and pack-vs-lone equivalence, written to OUTDIR/gpu_check.md (and .json).
# --data takes a folder (nested train/<class>/*.jpg too) or a zip of images, e.g. shared/data's CIFAR zip.
#
#   bash bench/gpu_check.sh [--smoke] [--data DIR] [--inception FILE] [--budget S] OUTDIR
#
# Full mode runs under `timeout 470` (GPU_CHECK_TIMEOUT=SECONDS to change, 0 for none) around the
# script's own 420 s budget.
# Uses the machine's own python3 and PyTorch (PYTHON=... to choose another interpreter), the package
# from src/, and nothing from the network: wheels carried in gpu-wheels/ (git-ignored) are installed
# with pip --no-index into a temporary folder, one by one, skipping any that does not fit.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if compgen -G "gpu-wheels/*.whl" >/dev/null; then
  site=$(mktemp -d "${TMPDIR:-/tmp}/gpu-wheels.XXXXXX")
  trap 'rm -rf "$site"' EXIT
  for whl in gpu-wheels/*.whl; do
    "$PY" -m pip install --quiet --no-index --no-deps --disable-pip-version-check --find-links gpu-wheels \
      --target "$site" "$whl" >/dev/null 2>&1 || echo "gpu_check: could not install $whl (skipped)" >&2
  done
  export PYTHONPATH="$PYTHONPATH:$site"
fi
case " $* " in
  *" --smoke "*) limit=() ;;
  *) limit=(timeout --signal=TERM "${GPU_CHECK_TIMEOUT:-470}") ;;  # <= 8 min; the table is rewritten after every row
esac
if ! command -v timeout >/dev/null || [ "${GPU_CHECK_TIMEOUT:-470}" = 0 ]; then limit=(); fi
"${limit[@]}" "$PY" bench/gpu_check.py "$@"
