# The grid and the helpers every rule uses. The science lives in the specnorm package; this file
# validates and expands config.yaml (specnorm.grid), sizes jobs and finds the specnorm command. Names
# come from the package's torch-free ground floor: specnorm.catalog (datasets, extractors) and
# specnorm.rundir (the files of a run), so parsing the workflow imports no torch.

import os
import sys
from shlex import quote as shell_quote

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

import specnorm.grid as grid
from specnorm import catalog, rundir
from specnorm.config import ConfigError

# `--config report=false` arrives as a string (Snakemake reads only True/False as booleans)
for key in ("score", "report"):
    if str(config.get(key)).lower() in ("true", "false"):
        config[key] = str(config[key]).lower() == "true"
validate(config, schema=str(grid.SCHEMA))
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
INCEPTION = f"{RESOURCES}/{catalog.get_extractor('inception').weights_file}"  # rule fetch_inception

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


def run_file(cell, name):
    """A file of a cell's run directory, by its specnorm.rundir name."""
    return f"{run_dir(cell)}/{name}"


def data_input(wildcards):
    """A cell's prepared dataset (none for a built-in one); ancient: re-preparing never retrains."""
    name = cell_config(wildcards).dataset.name
    return [] if catalog.is_builtin(name) else [ancient(f"{RESOURCES}/data/{name}/manifest.json")]


def weights_input(wildcards, scoring=False):
    """The extractor's fetched weights file (Inception), if the cell's in-training evaluation (or its
    scoring) uses an extractor that has one and no execution-level eval.inception_path replaces it."""
    cfg = cell_config(wildcards)
    info = catalog.get_extractor(catalog.resolve_extractor(cfg.eval.extractor, cfg.dataset.name))
    needed = info.weights_file is not None and (scoring or cfg.eval.every > 0)
    return [ancient(f"{RESOURCES}/{info.weights_file}")] if needed and not GRID.execution.get("eval.inception_path") else []


def job_mem(wildcards):
    return grid.mem_mb(cell_config(wildcards), JOBS)


def train_runtime(wildcards, attempt):
    return grid.runtime_minutes(cell_config(wildcards), JOBS, THROUGHPUT, attempt)


def run_targets():
    """Every selected cell's last file: scores.json (summary.json when scoring is off)."""
    done = rundir.SCORES if config.get("score", True) else rundir.SUMMARY
    return [run_file(c, done) for c in CELLS]


def theory_target():
    return [] if config.get("theory", "quick") in ("off", False) else ["results/theory/theory.csv"]


def final_targets():
    """What `rule all` builds: every run (scored), the theory checks, then the report."""
    return run_targets() + theory_target() + (["report/index.html"] if config.get("report", True) else [])
