"""Fake SLURM commands on PATH for tests that check what the workflow really submits.

``install(folder, ...)`` writes one small Python script and links it as ``sbatch``, ``squeue``,
``sacct``, ``scancel``, ``sinfo``, ``scontrol`` and ``sacctmgr``. ``sbatch`` records every call (its
arguments, parsed by :func:`parse_sbatch`) in ``calls.jsonl`` and prints a new job id; ``squeue`` and
``sacct`` report every submitted job in ``state`` (``FAILED`` by default: Snakemake then retries
each job until its retries are spent, so the attempts' requests are captured too, and nothing
runs); ``sinfo`` prints the given partitions and their time limits; ``scontrol show config`` a
``MinJobAge`` long enough for the plugin to keep ``squeue`` as its status command; ``sacctmgr``
the given account (the plugin validates ``-A``).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

COMMANDS = ("sbatch", "squeue", "sacct", "scancel", "sinfo", "scontrol", "sacctmgr")

_SCRIPT = r'''#!{python}
import fcntl, json, os, sys
STATE = {state!r}
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]


def locked(fn):
    with open(os.path.join(STATE, "lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return fn()


def submitted():
    path = os.path.join(STATE, "calls.jsonl")
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


if name == "sbatch":
    def submit():
        calls = submitted()
        job = str(1000 + len(calls))
        with open(os.path.join(STATE, "calls.jsonl"), "a") as f:
            f.write(json.dumps({{"job": job, "argv": args}}) + "\n")
        return job
    print(locked(submit))
elif name in ("squeue", "sacct"):
    if "--name" in args or "--format=JobIdRaw,State" in args:
        for call in locked(submitted):
            print(f"{{call['job']}}|{state_name}")
elif name == "sinfo":
    partitions = {partitions!r}
    only = args[args.index("-p") + 1] if "-p" in args else None
    if "%P %l" in args:
        for part, limit in partitions:
            if only is None or part.rstrip("*") == only:
                print(part, limit)
    else:
        print("PARTITION")
        for part, _ in partitions:
            print(part)
elif name == "scontrol":
    print("MinJobAge               = 300 sec")
elif name == "sacctmgr":
    print({account!r})
elif name == "scancel":
    with open(os.path.join(STATE, "scancel.log"), "a") as f:
        f.write(" ".join(args) + "\n")
'''


@dataclass(frozen=True)
class Submission:
    """One captured ``sbatch`` call: its options (``--gpus`` … as given) and the job it wraps."""

    job: str
    argv: tuple[str, ...]
    options: dict[str, str]
    flags: tuple[str, ...]
    wrap: str

    def get(self, *names: str) -> str | None:
        """The value of the first of ``names`` given (``-t`` or ``--time`` …)."""
        return next((self.options[n] for n in names if n in self.options), None)

    @property
    def line(self) -> str:
        """The call as a person would read it, without the wrapped Snakemake command."""
        return shlex.join(["sbatch", *(w for w in self.argv if not w.startswith("--wrap="))])


def parse_sbatch(argv: list[str]) -> tuple[dict[str, str], tuple[str, ...], str]:
    """``(options, flags, wrap)`` of an sbatch command line: ``--opt value``, ``--opt=value`` and
    ``-X value`` as options (``--gpus=1`` is ``{"--gpus": "1"}``), bare switches as flags."""
    options: dict[str, str] = {}
    flags: list[str] = []
    wrap = ""
    i = 0
    takes_value = {"--job-name", "--output", "--comment", "-A", "-p", "-t", "--mem", "--mem-per-cpu", "-D",
                   "-C", "--clusters", "--signal"}
    while i < len(argv):
        word = argv[i]
        if word.startswith("--wrap="):
            wrap = word.split("=", 1)[1]
        elif word.startswith("--") and "=" in word:
            key, value = word.split("=", 1)
            options[key] = value
        elif word in takes_value and i + 1 < len(argv):
            options[word] = argv[i + 1]
            i += 1
        else:
            flags.append(word)
        i += 1
    return options, tuple(flags), wrap


def install(folder: Path, partitions: list[tuple[str, str]], account: str, state: str = "FAILED") -> Path:
    """The fake commands in ``folder`` (put it first on PATH); returns the folder they record into."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "record"
    record.mkdir(exist_ok=True)
    script = folder / "fake_slurm"
    script.write_text(_SCRIPT.format(python=sys.executable, state=str(record), state_name=state,
                                     partitions=partitions, account=account))
    script.chmod(0o755)
    for name in COMMANDS:
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(script.name)
    return record


def submissions(record: Path) -> list[Submission]:
    """Every captured sbatch call, in order."""
    path = record / "calls.jsonl"
    out = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        call = json.loads(line)
        options, flags, wrap = parse_sbatch(call["argv"])
        out.append(Submission(call["job"], tuple(call["argv"]), options, flags, wrap))
    return out
