# The grid and the helpers every rule uses. The science lives in the specnorm package; this file
# validates and expands config.yaml (specnorm.grid), sizes jobs and finds the specnorm command. Names
# come from the package's torch-free ground floor: specnorm.catalog (datasets, extractors),
# specnorm.layout (every path under results/ and resources/) and specnorm.rundir (the files of a run),
# so parsing the workflow imports no torch.

import os
import sys
from shlex import quote as shell_quote
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate
from snakemake_interface_executor_plugins.settings import DeploymentMethod

import specnorm.grid as grid
from specnorm import catalog, layout, rundir
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
RESOURCES = config.get("resources", layout.RESOURCES)
RESULTS = layout.Results()  # results/, under the working directory
RES = layout.Resources(RESOURCES)
REPORT_INDEX = f"{layout.REPORT}/{layout.INDEX}"
# the prepared datasets live under the resources folder (not part of a cell's identity)
config.setdefault("execution", {}).setdefault("dataset.root", str(RES.data))
try:
    GRID = grid.expand(config)
    JOBS = grid.fit_partition(grid.job_settings(config), sinfo=False)  # SPECNORM_SLURM_MAX_RUNTIME
    THROUGHPUT = grid.Throughput.load(JOBS["throughput"])
    # jobs.pack_size > 1: the train jobs' packs of cells (train.smk, docs/pipeline.md#packs)
    PACKS = grid.pack_cells(GRID, JOBS["pack_size"], JOBS["pack_by"]) if JOBS["pack_size"] > 1 else []
    if workflow.is_main_process:  # before anything runs (docs/pipeline.md#before-anything-runs)
        grid.check_sources(GRID, config.get("sources"), RES)
except (grid.GridError, ConfigError, OSError, ValueError) as e:
    raise WorkflowError(f"config.yaml: {e}") from None
CELLS = list(GRID.cells)
PACK_OF = {cell: pack.name for pack in PACKS for cell in pack.cells}
if workflow.is_main_process:
    logger.info(f"specnorm grid, set {config['set']!r}: {grid.summary(GRID)}. "
                "Iterations and GPU-hours: snakemake plan -c1 (or specnorm plan).")
INCEPTION = RES.weights(catalog.get_extractor("inception").weights_file)  # rule fetch_inception

# The specnorm command and the resources folder are used as globals in the rules' shell commands,
# not as params: a different interpreter path or resources folder must not rerun finished cells.
# Each is pre-quoted for the shell (SPECNORM, RESOURCES_Q, DATA_Q); every other value in a shell command is
# quoted with Snakemake's {x:q} (docs/pipeline.md#quoting): a path with a space, `;` or `$(...)` stays one word.
RESOURCES_Q = shell_quote(RESOURCES)
DATA_Q = shell_quote(str(RES.data))  # specnorm prepare --root, specnorm score --real --root
# The specnorm command: this interpreter's environment by default (the README's setup); with
# --software-deployment-method conda, the rule's conda env plus this checkout's sources.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(workflow.basedir) / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    SPECNORM = "python -m specnorm.cli"
else:
    SPECNORM = f"{shell_quote(sys.executable)} -m specnorm.cli"
# A job's threads, for the libraries that read them (OpenMP) and for specnorm.
THREADS = "SPECNORM_THREADS={threads} OMP_NUM_THREADS={threads}"

# Site settings from the environment, for every rule that is not a localrule (each such rule
# lists **SITE, or **CPU_SITE without a GPU, in its resources; tests/workflow/test_workflow_dryrun.py
# checks every SLURM job gets them). Profile set-resources win over these; they win over the
# profile's default-resources.
SITE = grid.site_resources()
CPU_SITE = grid.site_resources(cpu=True)  # SPECNORM_SLURM_CPU_PARTITION, where set
# Every train and score job holds its allocation's device: profiles/slurm allows one per SLURM job
# (`resources: [device=1]`, scope local), so a cell's or pack's score jobs run one after another in
# its one-GPU job instead of adding up their GPUs, CPUs and memory (docs/pipeline.md#packs).
DEVICE = {"device": 1}


def cell_config(wildcards):
    """The identity config of the cell named by the wildcard (a clear error if not in the grid)."""
    try:
        return GRID.cells[wildcards.cell].config
    except KeyError:
        raise WorkflowError(f"cell {wildcards.cell!r} is not in the selected grid "
                            f"(set={config['set']!r}); list it with 'specnorm cells --set ...'") from None


def job_group(wildcards):
    """The SLURM job of a cell's train and score jobs: its pack's, or its own. The name shows in the
    job's comment (squeue -o %k) and its log folder (docs/pipeline.md#telling-jobs-apart)."""
    return PACK_OF.get(wildcards.cell, wildcards.cell)


def dataset_input(name):
    """A dataset's prepared manifest (none for a built-in one); ancient: re-preparing never retrains."""
    return [] if catalog.is_builtin(name) else [ancient(RES.manifest(name))]


def extractor_weights(extractor, dataset, needed=True):
    """An extractor's fetched weights file (Inception), if it has one, ``needed`` and no
    execution-level eval.inception_path replaces it."""
    info = catalog.get_extractor(catalog.resolve_extractor(extractor, dataset))
    if info.weights_file is None or not needed or GRID.execution.get("eval.inception_path"):
        return []
    return [ancient(RES.weights(info.weights_file))]


def data_input(wildcards):
    return dataset_input(cell_config(wildcards).dataset.name)


def weights_input(wildcards, scoring=False):
    """The weights of the cell's in-training evaluation (or of its scoring), if any."""
    cfg = cell_config(wildcards)
    return extractor_weights(cfg.eval.extractor, cfg.dataset.name, needed=scoring or cfg.eval.every > 0)


_SITE_JOBS = {}


def _remote():
    """Whether jobs run elsewhere (SLURM, or -n, whose plugin is "dryrun" whatever the profile): known
    only once Snakemake executes, after parsing; never inside a job."""
    plugin = getattr(workflow, "executor_plugin", None)
    return plugin is not None and plugin.name != "local" and workflow.is_main_process


def site_jobs(cpu=False):
    """JOBS with max_runtime at most the partition's limit (``cpu``: the partition of GPU-less
    jobs): SPECNORM_SLURM_MAX_RUNTIME (applied at parse time), else `sinfo` once Snakemake runs
    with the SLURM executor (resources are evaluated after parsing)."""
    if cpu not in _SITE_JOBS:
        _SITE_JOBS[cpu] = grid.fit_partition(JOBS, sinfo=_remote(), cpu=cpu)
    return _SITE_JOBS[cpu]


_PREFLIGHT_DONE = []


def preflight():
    """Before anything is submitted: stop with one line when `retries` allow fewer train jobs than a
    cell or pack needs under the partition's limit (docs/pipeline.md#before-anything-runs). Called by
    the train rules' input functions, so it runs while the DAG is built (when --retries and the
    executor are known), before any job; it adds no input."""
    if not _PREFLIGHT_DONE and _remote():
        _PREFLIGHT_DONE.append(True)
        jobs = site_jobs()
        retries = getattr(getattr(workflow, "execution_settings", None), "retries", 0) or 0
        try:
            grid.check_retries(grid.train_jobs_needed(GRID, jobs, THROUGHPUT), retries, jobs)
        except grid.GridError as e:
            # one line, nothing submitted, no lock taken yet (an error raised here would print a traceback)
            logger.error(f"specnorm: {e}")
            raise SystemExit(1)
    return []


def job_mem(wildcards):
    return grid.mem_mb(cell_config(wildcards), JOBS)


def short_runtime(wildcards, attempt):
    """GPU-less jobs that are not cells (theory, prepare): an hour per attempt, within their partition's limit."""
    return min(60 * attempt, site_jobs(cpu=True)["max_runtime"])


def score_runtime(wildcards, attempt):
    """A cell's score job: its evaluations by the performance model (specnorm.grid.score_minutes)."""
    return grid.score_minutes(cell_config(wildcards), site_jobs(), THROUGHPUT, attempt)


def train_minutes(cells, attempt):
    """Minutes for the train job of ``cells`` (one cell, or a pack's unfinished cells): its estimate,
    leaving its score jobs (after it, in the same SLURM job) their minutes under max_runtime
    (specnorm.grid.train_minutes)."""
    cfgs = [GRID.cells[c].config for c in cells]
    return grid.train_minutes(cfgs, site_jobs(), THROUGHPUT, attempt, scoring=config.get("score", True))


def train_runtime(wildcards, attempt):
    return train_minutes([wildcards.cell], attempt)


def pack_train_runtime(cells):
    """The runtime function of a pack rule (train.smk)."""
    return lambda wildcards, attempt: train_minutes(cells, attempt)


def run_targets():
    """Every selected cell's last file: scores.json (summary.json when scoring is off)."""
    done = rundir.SCORES if config.get("score", True) else rundir.SUMMARY
    return [RESULTS.run_file(c, done) for c in CELLS]


def theory_target():
    """The theory checks' CSV for config `theory` (quick, full; none for off): the mode is in the
    name, so changing it reruns the checks (docs/pipeline.md#the-dag)."""
    mode = str(config.get("theory", "quick")).lower()
    return [] if mode in ("off", "false") else [RESULTS.theory(mode)]


def final_targets():
    """What `rule all` builds: every run (scored), the theory checks, then the report."""
    return run_targets() + theory_target() + ([REPORT_INDEX] if config.get("report", True) else [])
