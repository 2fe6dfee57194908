#!/usr/bin/env bash
# One-step setup: a .venv in the project root with the pinned stack (pyproject.toml + constraints.txt),
# TensorBoard included (the extra .[tensorboard]; README "Watching a run").
#   SPECNORM_TORCH=auto  (default) the torch build pip resolves (on this CPU box: the local CPU wheel)
#   SPECNORM_TORCH=cuda  the CUDA build (PyPI's Linux wheel), also on a GPU-less SLURM login node
#   SPECNORM_TORCH=cpu   the CPU build, from PyTorch's CPU index
#   SPECNORM_SETUP_DRY_RUN=1  print the commands instead of running them
# The decisions live in scripts/torch_build.py (tested in tests/scripts/).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
MODE="${SPECNORM_TORCH:-auto}"
DRY="${SPECNORM_SETUP_DRY_RUN:-}"
HELPER=scripts/torch_build.py
PY="$VENV/bin/python"
run() { if [ -n "$DRY" ]; then echo "+ $*"; else "$@"; fi; }
has_smi=0; command -v nvidia-smi >/dev/null 2>&1 && has_smi=1
# Skip the (slow) resolver when the installed tree already matches pyproject + constraints + the build.
stamp="$VENV/.specnorm-setup.sha"
want=$(python3 "$HELPER" stamp "$MODE" pyproject.toml constraints.txt)  # a bad SPECNORM_TORCH stops here
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  [ -z "$DRY" ] || { echo "up to date ($stamp matches SPECNORM_TORCH=$MODE): nothing to run"; exit 0; }
else
  [ -x "$PY" ] || run python3 -m venv "$VENV"
  installed=absent; [ ! -x "$PY" ] || installed=$("$PY" "$HELPER" probe)
  cmds=$(python3 "$HELPER" plan "$MODE" "$installed" constraints.txt)
  [ -n "$DRY" ] || rm -f "$stamp"  # an interrupted install must not look finished next time
  while read -r args; do
    run "$PY" -m pip $args  # unquoted on purpose: one pip command per line, no argument has a space
  done <<< "$cmds"
  [ -z "$DRY" ] || { echo "dry run: nothing installed, $stamp not written"; exit 0; }
fi
# The build, whether CUDA is usable; fails if the build is not the requested one (then no stamp).
"$PY" "$HELPER" report "$MODE" "$has_smi"
[ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || echo "$want" > "$stamp"
