#!/usr/bin/env bash
# The test command of the README (and of CI): set up .venv if needed, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two workers (pytest-xdist), each taking whole test files, so a file's tests share its fixtures (the
# SLURM cluster): in one process the suite kept 2 cores 51 % busy (25.7 min); on two workers it took
# 15.6 min (docs/performance.md#ci). Arguments come after: `-n 0` runs it in one process.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
