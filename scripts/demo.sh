#!/usr/bin/env bash
# The README's main command: set up .venv, then run the demo pipeline (built-in digits dataset, CPU)
# end to end: train every demo cell, score it, and write report/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/snakemake --profile profiles/local --configfile profiles/local/packs.yaml "$@"
echo "Report: file://$(pwd)/report/index.html"
