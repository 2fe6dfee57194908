"""Every value that reaches a rule's shell command is quoted (docs/pipeline.md#quoting): a resources
folder, a source path or an interpreter path with a space, `;` or `$(...)` stays one word, runs
nothing, and the files land under the literal folder name. A dry run checks every rule's command;
a real run (one tiny cell trained and scored, the real-data scores) runs from a checkout and an
interpreter whose paths contain a space. About a minute on 2 CPU cores."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline_helpers import REPO, merged_grid, read_json, run_snakemake, write_config

# each part would run `touch` if the value reached a shell unquoted (or half quoted)
HOSTILE = "res dir;touch MARK;$(touch MARK2)"
MARKERS = ("MARK", "MARK2", "MARK3", "MARK4")


def tiny(tmp_path: Path) -> dict:
    """One digits cell that trains 30 iterations (no in-training evaluation), one MNIST cell whose
    local archive path and the Inception path are hostile (dry run only: neither file exists)."""
    hostile_src = tmp_path / "src dir;touch MARK3" / "$(touch MARK4)" / "mnist.tar.gz"
    return {
        "set": "tiny_quoting",
        "theory": "quick",
        "sources": {"mnist": str(hostile_src)},
        "inception": str(hostile_src.with_name("inception.pt")),
        "presets": {"demo": {"train.iterations": 30, "checkpoint.every": 10, "eval.every": 0, "log.every": 10,
                             "log.analysis_every": 0, "log.sample_every": 0,
                             "eval.n_gen": 200, "eval.n_real": 200, "eval.n_is": 200}},
        "blocks": {"tiny_quoting": {"about": "one built-in and one downloaded dataset", "source": "new",
                                    "base": ["demo"], "grid": {"dataset.name": ["digits", "mnist"],
                                                               "train.seed": [0, 1]}}},
    }


def no_markers(*roots: Path) -> None:
    for root in roots:
        found = [p for m in MARKERS for p in root.rglob(m)]
        assert not found, f"a hostile value ran as a command: {found}"


def shell_commands(output: str) -> list[list[str]]:
    """The commands `snakemake -p` printed, each split as the shell would split it (`run:` rules
    print None)."""
    return [shlex.split(m) for m in re.findall(r"^\s*Shell command: (.*)$", output, re.M) if m != "None"]


def arg(words: list[str], flag: str) -> str:
    return words[words.index(flag) + 1]


@pytest.mark.parametrize("pack_size", [1, 2])  # one train rule per cell, or per pack of cells
def test_a_dry_run_quotes_every_value_in_every_rule(tmp_path, pack_size):
    over = {**tiny(tmp_path), "jobs": {"pack_size": pack_size}}
    cfg = write_config(tmp_path / "tiny.yaml", **over)
    res = run_snakemake(tmp_path, "-n", "-p", "--configfile", str(cfg), "--config", f"resources={HOSTILE}",
                        "--forceall", timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    commands = shell_commands(res.stdout)
    by_sub = {}
    for words in commands:
        sub = words[words.index("specnorm.cli") + 1]
        by_sub.setdefault(sub, []).append(words)
        assert "touch" not in words, words  # nothing split off the hostile values
        # the log redirect survived: the command ends with `> log 2>&1` (train appends: >>)
        assert words[-1] == "2>&1" and words[-3] in (">", ">>") and words[-2].startswith("results/logs/"), words
        if "--resources" in words:
            assert arg(words, "--resources") == HOSTILE, words
        if "--root" in words:
            assert arg(words, "--root") == f"{HOSTILE}/data", words
    # train (exec), score, theory, report, the real-data scores, mnist's download and preparation
    # and the Inception fetch: every rule with a shell command ran through the checks above
    assert {"train", "score", "theory", "report", "prepare", "fetch-inception"} <= set(by_sub), sorted(by_sub)
    assert all(w[w.index("-m") - 2] == "exec" for w in by_sub["train"])  # the trainer replaces the shell
    # a pack's run directories and cell files: one word each
    outs = [w[w.index("--out") + 1:w.index("--engine")] for w in by_sub["train"]]
    assert sorted(len(o) for o in outs) == [pack_size] * (4 // pack_size), outs
    assert all(d.startswith("results/runs/") and " " not in d for o in outs for d in o), outs
    assert {arg(w, "--source") for w in by_sub["prepare"]} == {over["sources"]["mnist"]}
    assert arg(by_sub["fetch-inception"][0], "--from") == over["inception"]
    assert sum("--real" in w for w in by_sub["score"]) == 2  # digits and mnist
    no_markers(tmp_path, REPO)


def checkout_with_a_space(root: Path) -> tuple[Path, Path]:
    """A copy of the workflow under ``root`` ("with space/repo") and this environment reached through
    a path with a space ("with space/venv", a link: sys.executable keeps the link's path), so SPECNORM
    (the interpreter) and the Snakefile's folder both contain a space."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, repo / name)
    for name in ("workflow", "profiles", "envs"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = root / "venv"
    venv.symlink_to(REPO / ".venv", target_is_directory=True)
    return repo, venv / "bin" / "python"


def snakemake_in(python: Path, repo: Path, work: Path, cfg: Path, *targets: str) -> subprocess.CompletedProcess:
    cmd = ["timeout", "-s", "INT", "-k", "30", "900", str(python), "-m", "snakemake", "-s", str(repo / "Snakefile"),
           "--directory", str(work), "--profile", str(repo / "profiles" / "local"), "--cores", "2",
           *targets, "--configfile", str(cfg), "--config", f"resources={HOSTILE}"]
    return subprocess.run(cmd, cwd=work.parent, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.mark.pipeline
def test_real_jobs_with_a_hostile_resources_folder_from_a_checkout_with_a_space(tmp_path):
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("needs the repository's .venv (README setup)")
    over = tiny(tmp_path)
    over["blocks"]["tiny_quoting"]["grid"].update({"dataset.name": ["digits"], "train.seed": [0]})
    over.update(theory="off", sources={}, inception=None)
    cell = next(iter(merged_grid(over).cells))
    top = tmp_path / "with space"
    repo, python = checkout_with_a_space(top)
    work = top / "work dir"
    work.mkdir()
    cfg = write_config(top / "tiny.yaml", **over)

    # a shell job run by an interpreter whose path has a space: SPECNORM is quoted
    real = snakemake_in(python, repo, work, cfg, "results/real/digits-paper.json")
    assert real.returncode == 0, real.stdout[-4000:]
    assert f"{shlex.quote(str(python))} -m specnorm.cli score --real" in real.stdout, real.stdout[-3000:]
    assert (work / "results" / "real" / "digits-paper.json").is_file()
    no_markers(tmp_path, REPO)

    # a cell trained (exec, log appended) and scored. Snakemake itself starts `run:` jobs (cell_config)
    # with its interpreter's path unquoted (its local executor, 9.x), so this run uses the checkout's
    # own interpreter path (docs/pipeline.md#quoting); the Snakefile's folder still has a space.
    cell_run = snakemake_in(REPO / ".venv" / "bin" / "python", repo, work, cfg, f"results/runs/{cell}/scores.json")
    assert cell_run.returncode == 0, cell_run.stdout[-4000:]
    no_markers(tmp_path, REPO)
    run = work / "results" / "runs" / cell
    assert read_json(run / "summary.json")["iterations_done"] == 30
    assert (run / "scores.json").is_file()
    train_log = (work / "results" / "logs" / "train" / f"{cell}.log").read_text()
    assert "[specnorm] it 30/30" in train_log, train_log[-2000:]  # the trainer's output reached the log

    # the reference statistics were cached under the literal hostile folder, and nothing else was made
    cached = [p for p in (work / HOSTILE).rglob("*") if p.is_file()]
    assert cached, sorted(p.name for p in work.iterdir())
    assert {p.name for p in work.iterdir()} - {".snakemake"} == {"results", HOSTILE}
