#!/usr/bin/env bash
# One-step setup: a .venv in the project root with the pinned stack (CPU torch here, CUDA torch on a GPU box).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
# Skip the (slow) resolver when the installed tree already matches pyproject + constraints.
stamp="$VENV/.specnorm-setup.sha"
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$PY" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
  # On a CPU-only machine a stray unpinned dependency would drag in GBs of CUDA wheels: refuse that.
  if ! command -v nvidia-smi >/dev/null 2>&1 && "$PY" -m pip list 2>/dev/null | grep -qiE '^nvidia-'; then
    echo "ERROR: CUDA packages were installed on a machine without a GPU; a torch pin was bypassed" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
"$PY" -c "import specnorm, torch; print('specnorm setup ok: torch', torch.__version__, '| torchvision shim', specnorm.TV_SHIMMED)"
