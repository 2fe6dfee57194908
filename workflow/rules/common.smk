# The grid and the helpers every rule uses. The science lives in the specnorm package; this file
# validates and expands config.yaml (specnorm.grid), sizes jobs and finds the specnorm command. Names
# come from the package's torch-free ground floor: specnorm.catalog (datasets, extractors) and
# specnorm.rundir (the files of a run), so parsing the workflow imports no torch.

import os
import sys
from shlex import quote as shell_quote
from types import SimpleNamespace

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
# `--config jobs='{pack_size: 4}'` arrives with string leaves
for key in ("pack_size", "pack_mem_mb", "min_runtime", "max_runtime"):
    if isinstance(config.get("jobs"), dict) and str(config["jobs"].get(key, "")).isdigit():
        config["jobs"][key] = int(config["jobs"][key])
validate(config, schema=str(grid.SCHEMA))
RESOURCES = config.get("resources", "resources")
# the prepared datasets live under the resources folder (not part of a cell's identity)
config.setdefault("execution", {}).setdefault("dataset.root", f"{RESOURCES}/data")
try:
    GRID = grid.expand(config)
    JOBS = grid.fit_partition(grid.job_settings(config), sinfo=False)  # SPECNORM_SLURM_MAX_RUNTIME
    THROUGHPUT = grid.Throughput.load(JOBS["throughput"])
    # jobs.pack_size > 1: the train jobs' packs of cells (train.smk, docs/pipeline.md#packs)
    PACKS = grid.pack_cells(GRID, JOBS["pack_size"], JOBS["pack_by"]) if JOBS["pack_size"] > 1 else []
except (grid.GridError, ConfigError, OSError, ValueError) as e:
    raise WorkflowError(f"config.yaml: {e}") from None
CELLS = list(GRID.cells)
if workflow.is_main_process:
    logger.info(f"specnorm grid, set {config['set']!r}: {grid.summary(GRID)}. "
                "Iterations and GPU-hours: snakemake plan -c1 (or specnorm plan).")
INCEPTION = f"{RESOURCES}/{catalog.get_extractor('inception').weights_file}"  # rule fetch_inception

# The specnorm command and the resources folder are used as globals in the rules' shell commands,
# not as params: a different interpreter path or resources folder must not rerun finished cells.
# Both are pre-quoted for the shell (SPECNORM, RESOURCES_Q); every other value in a shell command is
# quoted with Snakemake's {x:q} (docs/pipeline.md#quoting): a path with a space, `;` or `$(...)` stays one word.
RESOURCES_Q = shell_quote(RESOURCES)
# The specnorm command: this interpreter's environment by default (the README's setup); with
# --software-deployment-method conda, the rule's conda env plus this checkout's sources.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(workflow.basedir) / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    SPECNORM = "python -m specnorm.cli"
else:
    SPECNORM = f"{shell_quote(sys.executable)} -m specnorm.cli"

# Site settings from the environment, for every rule that is not a localrule (each such rule
# lists **SITE in its resources; tests/workflow/test_workflow_dryrun.py checks every SLURM job
# gets them). Profile set-resources win over these; they win over the profile's default-resources.
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


_SITE_JOBS = {}


def site_jobs():
    """JOBS with max_runtime at most the partition's limit: SPECNORM_SLURM_MAX_RUNTIME (applied at
    parse time), else `sinfo` once Snakemake runs with the SLURM executor (known only after parsing;
    resources are evaluated later; not for the local executor, nor inside a job). Warns when a cell
    (or pack) needs more pieces than retries allow."""
    if "jobs" not in _SITE_JOBS:
        plugin = getattr(workflow, "executor_plugin", None)  # "dryrun" for -n, whatever the profile
        remote = plugin is not None and plugin.name != "local" and workflow.is_main_process
        jobs = _SITE_JOBS["jobs"] = grid.fit_partition(JOBS, sinfo=remote)
        if PACKS:  # a pack's train job: its longest cell × the pack's slowdown
            most = max(grid.pack_pieces([GRID.cells[c].config for c in p.cells], jobs, THROUGHPUT) for p in PACKS)
        else:
            most = max((grid.pieces(c.config, jobs, THROUGHPUT) for c in GRID.cells.values()), default=1)
        settings = getattr(workflow, "execution_settings", None)
        retries = getattr(settings, "retries", 0) or 0
        if workflow.is_main_process and most > retries + 1:
            logger.warning(f"a cell needs up to {most} train jobs of at most {jobs['max_runtime']} min "
                           f"(jobs.max_runtime), but retries={retries} allows {retries + 1}: raise --retries, "
                           "or rerun snakemake until done (each run resumes from checkpoints)")
    return _SITE_JOBS["jobs"]


def job_mem(wildcards):
    return grid.mem_mb(cell_config(wildcards), JOBS)


def short_runtime(wildcards, attempt):
    """Jobs that are not cells (theory, prepare): an hour per attempt, within the partition's limit."""
    return min(60 * attempt, site_jobs()["max_runtime"])


def score_runtime(wildcards, attempt):
    jobs = site_jobs()
    return min(jobs["min_runtime"] * attempt, jobs["max_runtime"])


def train_runtime(wildcards, attempt):
    """Minutes for the train job; with scoring on, score runs in the same allocation (group "cell",
    whose runtime is their sum), so train leaves it room under max_runtime."""
    jobs = site_jobs()
    minutes = grid.runtime_minutes(cell_config(wildcards), jobs, THROUGHPUT, attempt)
    if config.get("score", True):
        minutes = min(minutes, max(1, jobs["max_runtime"] - score_runtime(wildcards, attempt)))
    return minutes


def run_targets():
    """Every selected cell's last file: scores.json (summary.json when scoring is off)."""
    done = rundir.SCORES if config.get("score", True) else rundir.SUMMARY
    return [run_file(c, done) for c in CELLS]


def theory_target():
    """The theory checks' CSV for config `theory` (quick, full; none for off): the mode is in the
    name, so changing it reruns the checks (docs/pipeline.md#the-dag)."""
    mode = str(config.get("theory", "quick")).lower()
    return [] if mode in ("off", "false") else [f"results/theory/theory-{mode}.csv"]


def final_targets():
    """What `rule all` builds: every run (scored), the theory checks, then the report."""
    return run_targets() + theory_target() + (["report/index.html"] if config.get("report", True) else [])
