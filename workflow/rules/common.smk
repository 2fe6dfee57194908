# The grid and the helpers every rule uses. The science lives in the specnorm package; this file
# only expands config.yaml (specnorm.grid), sizes jobs and finds the specnorm command.

import os
import sys
from shlex import quote as shell_quote

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake_interface_executor_plugins.settings import DeploymentMethod

import specnorm.grid as grid
from specnorm.config import ConfigError

# `--config report=false` arrives as a string (Snakemake reads only True/False as booleans)
for key in ("score", "report"):
    if str(config.get(key)).lower() in ("true", "false"):
        config[key] = str(config[key]).lower() == "true"
RESOURCES = config.get("resources", "resources")
# the prepared datasets live under the resources folder (not part of a cell's identity)
config.setdefault("execution", {}).setdefault("dataset.root", f"{RESOURCES}/data")
try:
    GRID = grid.expand(config)
    JOBS = grid.job_settings(config)
    THROUGHPUT = grid.Throughput.load(JOBS["throughput"])
except (grid.GridError, ConfigError, OSError) as e:
    raise WorkflowError(f"config.yaml: {e}") from None
CELLS = list(GRID.cells)
if workflow.is_main_process:
    logger.info(f"specnorm grid, set {config['set']!r}: {grid.summary(GRID)}. "
                "Iterations and GPU-hours: snakemake plan (or specnorm plan).")
BUILTIN_DATASETS = {"digits"}  # no download, no prepare (specnorm.data: built in)
INCEPTION = f"{RESOURCES}/inception/inception-2015-12-05.pt"  # specnorm.metrics.inception.default_path

# The specnorm command and the resources folder are used as globals in the rules' shell commands,
# not as params: a different interpreter path or resources folder must not rerun finished cells.
# The specnorm command: this interpreter's environment by default (the README's setup); with
# --software-deployment-method conda, the rule's conda env plus this checkout's sources.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(workflow.basedir) / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    SPECNORM = "python -m specnorm.cli"
else:
    SPECNORM = f"{sys.executable} -m specnorm.cli"

# Site settings from the environment (profile set-resources win over these).
SITE = {res: os.environ[var] for res, var in
        (("slurm_partition", "SPECNORM_SLURM_PARTITION"), ("slurm_account", "SPECNORM_SLURM_ACCOUNT"))
        if os.environ.get(var)}


def cell_config(wildcards):
    """The identity config of the cell named by the wildcard (a clear error if not in the grid)."""
    try:
        return GRID.cells[wildcards.cell].config
    except KeyError:
        raise WorkflowError(f"cell {wildcards.cell!r} is not in the selected grid "
                            f"(set={config['set']!r}); list it with 'specnorm cells --set ...'") from None


def run_dir(cell):
    return f"results/runs/{cell}"


def uses_inception(cfg):
    """Whether a cell is evaluated with the Inception network (else the built-in digits classifier)."""
    extractor = cfg.eval.extractor
    if extractor == "auto":
        extractor = "digits" if cfg.dataset.name in BUILTIN_DATASETS else "inception"
    return extractor == "inception"


def data_input(wildcards):
    """A cell's prepared dataset (none for the built-in one); ancient: re-preparing never retrains."""
    name = cell_config(wildcards).dataset.name
    return [] if name in BUILTIN_DATASETS else [ancient(f"{RESOURCES}/data/{name}/manifest.json")]


def inception_input(wildcards, scoring=False):
    """The Inception weights, if the cell's in-training evaluation (or its scoring) needs them and
    no execution-level eval.inception_path replaces the fetched copy."""
    cfg = cell_config(wildcards)
    needed = uses_inception(cfg) and (scoring or cfg.eval.every > 0)
    return [ancient(INCEPTION)] if needed and not GRID.execution.get("eval.inception_path") else []


def job_mem(wildcards):
    return grid.mem_mb(cell_config(wildcards), JOBS)


def train_runtime(wildcards, attempt):
    return grid.runtime_minutes(cell_config(wildcards), JOBS, THROUGHPUT, attempt)


def run_targets():
    """Every selected cell's last file: scores.json (summary.json when scoring is off)."""
    done = "scores.json" if config.get("score", True) else "summary.json"
    return [f"{run_dir(c)}/{done}" for c in CELLS]


def theory_target():
    return [] if config.get("theory", "quick") in ("off", False) else ["results/theory/theory.csv"]


def final_targets():
    """What `rule all` builds: every run (scored), the theory checks, then the report."""
    return run_targets() + theory_target() + (["report/index.html"] if config.get("report", True) else [])
