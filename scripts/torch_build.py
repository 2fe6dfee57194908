"""Which torch build ``scripts/setup.sh`` installs: the decisions, with no pip and no network.

``SPECNORM_TORCH`` chooses the build of the pinned ``torch==<pin>`` (constraints.txt):

* ``auto`` (default): whatever pip resolves (and keeps an installed torch of the pinned version).
  On Linux the PyPI wheel is the CUDA build; a machine whose pip config offers a local CPU wheel
  gets that one.
* ``cuda``: the CUDA build, PyPI's default Linux wheel, also on a machine without a GPU (a SLURM
  login node, whose ``.venv`` the GPU jobs run). A CPU build already installed is replaced.
* ``cpu``: the CPU build, from PyTorch's own CPU index (only then is that index used).

``setup.sh`` calls the subcommands below; the functions are what ``tests/scripts`` test.

    python3 torch_build.py stamp MODE FILE...        sha of the files + the mode (exit 2 on a bad MODE)
    .venv/bin/python torch_build.py probe             the installed torch: "VERSION CUDA|none" or "absent"
    python3 torch_build.py plan MODE PROBE CONSTRAINTS   the pip commands, one per line
    .venv/bin/python torch_build.py report MODE HAS_NVIDIA_SMI   the build; exit 1 if not the requested one

Standard library only (``stamp`` and ``plan`` run before the venv exists).
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

MODES = ("auto", "cpu", "cuda")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PIP = ["-q", "--disable-pip-version-check"]
EXTRAS = ".[test,tensorboard]"
"""The project with its test runner and TensorBoard (the pinned stack; README "Watching a run")."""


class SetupError(Exception):
    """A one-line error for the user (setup.sh prints it and stops)."""


def check_mode(mode: str) -> str:
    """The normalized SPECNORM_TORCH value, or a SetupError naming the allowed ones."""
    m = mode.strip().lower()
    if m not in MODES:
        raise SetupError(f"SPECNORM_TORCH must be one of {', '.join(MODES)} (got {mode!r})")
    return m


def stamp(mode: str, *contents: bytes) -> str:
    """What ``.venv/.specnorm-setup.sha`` holds after a setup: the inputs (pyproject, constraints)
    and the chosen build, so that changing any of them (``SPECNORM_TORCH`` too) reinstalls."""
    h = hashlib.sha256()
    for c in contents:
        h.update(hashlib.sha256(c).digest())
    h.update(f"SPECNORM_TORCH={check_mode(mode)}".encode())
    return h.hexdigest()


def torch_pin(constraints: str) -> str:
    """``torch==X`` from the constraints text (a tag-free pin: the same file serves both builds)."""
    m = re.search(r"^torch==(\S+)\s*$", constraints, re.MULTILINE)
    if not m:
        raise SetupError("constraints.txt pins no torch version (torch==X)")
    return f"torch=={m.group(1)}"


def parse_probe(probe: str) -> tuple[str, str | None] | None:
    """``probe`` output → None (no torch) or (version, CUDA version or None for a CPU build)."""
    lines = probe.strip().splitlines()
    parts = lines[-1].split() if lines else []
    if not parts or parts[0] == "absent":
        return None
    if len(parts) != 2:
        raise SetupError(f"unreadable torch probe {probe!r}")
    return parts[0], (None if parts[1] == "none" else parts[1])


def plan(
    mode: str, installed: tuple[str, str | None] | None, pin: str, constraints: str = "constraints.txt"
) -> list[list[str]]:
    """The pip commands (arguments after ``python -m pip``) that setup runs, in order.

    Only the torch build is decided here; the last command is always the constrained install of the
    project, which keeps an installed torch of the pinned version. Never fails for lack of a GPU.
    """
    mode = check_mode(mode)
    version = pin.split("==", 1)[1]
    cmds: list[list[str]] = []
    if mode == "cpu":
        is_cpu_pin = installed is not None and installed[1] is None and installed[0].split("+")[0] == version
        if not is_cpu_pin:  # absent, a CUDA build or another version: the CPU wheel, alone (deps come next)
            cmds.append(["install", *PIP, "--force-reinstall", "--no-deps", pin, "--index-url", CPU_INDEX])
    elif mode == "cuda":
        if installed is not None and installed[1] is None:  # a CPU build: remove it, the install gets PyPI's
            cmds.append(["uninstall", *PIP, "-y", "torch"])
    cmds.append(["install", *PIP, "-c", constraints, "-e", EXTRAS])
    return cmds


def describe(
    mode: str, version: str, cuda: str | None, cuda_usable: bool, has_nvidia_smi: bool
) -> tuple[str | None, str, list[str]]:
    """(error or None, the build in words, notes) for the torch that setup ended up with."""
    mode = check_mode(mode)
    build = f"CUDA {cuda} build" if cuda else "CPU build"
    usable = "CUDA usable: " + ("yes" if cuda_usable else "no")
    notes: list[str] = []
    error = None
    if mode == "cpu" and cuda:
        error = f"SPECNORM_TORCH=cpu, but torch {version} is a CUDA build"
    elif mode == "cuda" and not cuda:
        error = (f"SPECNORM_TORCH=cuda, but pip resolved torch {version}, a CPU build: this machine's pip "
                 "configuration (pip config list: index-url, find-links) offers a CPU wheel; point it at PyPI "
                 "or a CUDA wheel index")
    elif cuda and not cuda_usable:
        notes.append("this machine has " + ("a GPU driver (nvidia-smi) but CUDA does not start: check the driver"
                                            if has_nvidia_smi else
                                            "no GPU (nvidia-smi absent): fine on a login node, the GPU jobs use it"))
    elif not cuda and has_nvidia_smi and mode == "auto":
        notes.append("this machine has a GPU (nvidia-smi): SPECNORM_TORCH=cuda installs the CUDA build")
    return error, f"{build} | {usable}", notes


def _probe() -> str:
    try:
        import torch
    except ImportError:
        return "absent"
    return f"{torch.__version__} {torch.version.cuda or 'none'}"


def _report(mode: str, has_nvidia_smi: bool) -> int:
    import torch

    import specnorm.metrics

    error, build, notes = describe(mode, torch.__version__, torch.version.cuda, torch.cuda.is_available(),
                                   has_nvidia_smi)
    if error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    print(f"specnorm setup ok: torch {torch.__version__} | {build} | SPECNORM_TORCH={check_mode(mode)}"
          f" | torchvision shim {specnorm.metrics.TV_SHIMMED}")
    for n in notes:
        print(f"  note: {n}")
    return 0


def main(argv: list[str]) -> int:
    try:
        cmd, args = argv[0], argv[1:]
        if cmd == "stamp":
            print(stamp(args[0], *(Path(f).read_bytes() for f in args[1:])))
        elif cmd == "probe":
            print(_probe())
        elif cmd == "plan":
            mode, probe, constraints = args
            for c in plan(mode, parse_probe(probe), torch_pin(Path(constraints).read_text()), constraints):
                print(" ".join(c))  # no argument contains a space; setup.sh splits on whitespace
        elif cmd == "report":
            return _report(args[0], args[1] == "1")
        else:
            raise SetupError(f"unknown command {cmd!r}")
    except SetupError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
