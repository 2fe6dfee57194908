"""scripts/setup.sh's torch build choice (SPECNORM_TORCH=auto|cpu|cuda, scripts/torch_build.py).

Nothing here downloads or installs: the helper's functions are pure, and setup.sh runs in its dry-run
mode (SPECNORM_SETUP_DRY_RUN=1) against a throw-away venv path or a fake venv python.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"
_spec = importlib.util.spec_from_file_location("torch_build", ROOT / "scripts" / "torch_build.py")
tb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tb)

PIN = "torch==2.13.0"
CPU_BUILD = ("2.13.0+cpu", None)
CUDA_BUILD = ("2.13.0", "12.8")
MAIN = ["install", "-q", "--disable-pip-version-check", "-c", "constraints.txt", "-e", ".[test,tensorboard]"]


def uses_cpu_index(cmd: list[str]) -> bool:
    return tb.CPU_INDEX in cmd


def test_constraints_pin_torch_without_a_build_tag():
    pin = tb.torch_pin((ROOT / "constraints.txt").read_text())
    assert pin.startswith("torch==") and "+" not in pin  # one file for the CPU and the CUDA build


@pytest.mark.parametrize("installed", [None, CPU_BUILD, CUDA_BUILD])
def test_cuda_never_uses_the_cpu_index_and_replaces_a_cpu_build(installed):
    cmds = tb.plan("cuda", installed, PIN)
    assert cmds[-1] == MAIN and not any(uses_cpu_index(c) for c in cmds)
    assert cmds[:-1] == ([["uninstall", "-q", "--disable-pip-version-check", "-y", "torch"]]
                         if installed == CPU_BUILD else [])


def test_cuda_build_on_a_machine_without_nvidia_smi_is_fine():
    """A SLURM login node: CUDA build, no GPU, no nvidia-smi → no error, a note that says why."""
    error, build, notes = tb.describe("cuda", "2.13.0", "12.8", cuda_usable=False, has_nvidia_smi=False)
    assert error is None and build == "CUDA 12.8 build | CUDA usable: no"
    assert len(notes) == 1 and "login node" in notes[0]
    for mode in ("auto", "cuda"):  # the old refusal (CUDA wheels without nvidia-smi) is gone in every mode
        assert tb.describe(mode, "2.13.0", "12.8", False, False)[0] is None


@pytest.mark.parametrize("installed", [None, CUDA_BUILD, ("2.12.0+cpu", None)])
def test_cpu_installs_the_pinned_torch_from_the_cpu_index(installed):
    cmds = tb.plan("cpu", installed, PIN)
    assert cmds == [
        ["install", "-q", "--disable-pip-version-check", "--force-reinstall", "--no-deps", PIN,
         "--index-url", "https://download.pytorch.org/whl/cpu"],
        MAIN,
    ]


def test_cpu_keeps_an_installed_cpu_build_of_the_pin():
    assert tb.plan("cpu", CPU_BUILD, PIN) == [MAIN]


@pytest.mark.parametrize("installed", [None, CPU_BUILD, CUDA_BUILD])
def test_auto_passes_through(installed):
    assert tb.plan("auto", installed, PIN) == [MAIN]


@pytest.mark.parametrize("cuda", [None, "12.8"])
@pytest.mark.parametrize("usable", [False, True])
def test_auto_reports_the_build_and_never_fails(cuda, usable):
    error, build, _ = tb.describe("auto", "2.13.0", cuda, usable, has_nvidia_smi=usable)
    assert error is None
    assert build == ("CUDA 12.8 build" if cuda else "CPU build") + " | CUDA usable: " + ("yes" if usable else "no")


def test_a_build_other_than_the_requested_one_is_an_error():
    assert "CUDA build" in tb.describe("cpu", "2.13.0", "12.8", False, False)[0]
    error = tb.describe("cuda", "2.13.0+cpu", None, False, False)[0]
    assert "CPU build" in error and "\n" not in error


@pytest.mark.parametrize("bad", ["gpu", "", "cuda12", "none"])
def test_bad_mode_is_a_one_line_error(bad):
    with pytest.raises(tb.SetupError, match="SPECNORM_TORCH must be one of auto, cpu, cuda"):
        tb.check_mode(bad)
    with pytest.raises(tb.SetupError):
        tb.plan(bad, None, PIN)


def test_stamp_changes_with_the_mode_and_the_inputs():
    files = (b"pyproject", b"constraints")
    stamps = {m: tb.stamp(m, *files) for m in tb.MODES}
    assert len(set(stamps.values())) == 3
    assert tb.stamp("cpu", *files) == stamps["cpu"] == tb.stamp(" CPU", *files)
    assert tb.stamp("cpu", b"pyproject", b"constraints2") != stamps["cpu"]
    assert tb.stamp("cpu", b"pyprojec", b"tconstraints") != stamps["cpu"]  # file boundaries count


def test_probe_parsing():
    assert tb.parse_probe("absent") is None
    assert tb.parse_probe("2.13.0+cpu none") == CPU_BUILD
    assert tb.parse_probe("some warning\n2.13.0 12.8\n") == CUDA_BUILD


# --- setup.sh itself, in dry-run mode -------------------------------------------------------------


def setup_dry_run(venv: Path, mode: str | None, path: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SPECNORM_TORCH", "VENV")}
    env.update(SPECNORM_SETUP_DRY_RUN="1", VENV=str(venv))
    if mode is not None:
        env["SPECNORM_TORCH"] = mode
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["bash", str(SETUP)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def fake_venv(tmp_path: Path, probe: str) -> Path:
    """A venv whose python only answers setup.sh's probe (``torch_build.py probe``) with ``probe``."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    py = venv / "bin" / "python"
    py.write_text(f"#!/bin/sh\necho '{probe}'\n")
    py.chmod(0o755)
    return venv


def pip_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if " -m pip " in line]


@pytest.mark.parametrize("mode", [None, "auto", "cpu", "cuda"])
def test_setup_dry_run_on_a_new_venv(tmp_path, mode):
    venv = tmp_path / "venv"
    r = setup_dry_run(venv, mode)
    assert r.returncode == 0, r.stderr
    assert f"+ python3 -m venv {venv}" in r.stdout
    pips = pip_lines(r.stdout)
    assert pips[-1].endswith("-m pip install -q --disable-pip-version-check -c constraints.txt -e .[test,tensorboard]")
    assert (tb.CPU_INDEX in r.stdout) == (mode == "cpu") and len(pips) == (2 if mode == "cpu" else 1)
    assert not venv.exists()  # nothing created, nothing stamped


def test_setup_dry_run_switches_an_existing_cpu_venv_to_cuda_without_nvidia_smi(tmp_path):
    venv = fake_venv(tmp_path, "2.13.0+cpu none")
    no_gpu_path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                  if not (Path(p) / "nvidia-smi").exists())
    r = setup_dry_run(venv, "cuda", path=no_gpu_path)
    assert r.returncode == 0, r.stderr
    assert [line.split(" -m pip ")[1] for line in pip_lines(r.stdout)] == [
        "uninstall -q --disable-pip-version-check -y torch", " ".join(MAIN)]
    assert not (venv / ".specnorm-setup.sha").exists()


def test_setup_dry_run_is_a_no_op_when_the_stamp_matches(tmp_path):
    venv = fake_venv(tmp_path, "2.13.0+cpu none")
    files = [(ROOT / f).read_bytes() for f in ("pyproject.toml", "constraints.txt")]
    (venv / ".specnorm-setup.sha").write_text(tb.stamp("cpu", *files) + "\n")
    assert "nothing to run" in setup_dry_run(venv, "cpu").stdout
    assert pip_lines(setup_dry_run(venv, "cuda").stdout)  # another build: not up to date


def test_setup_rejects_a_bad_mode_in_one_line(tmp_path):
    venv = tmp_path / "venv"
    r = setup_dry_run(venv, "gpu")
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.strip() == "ERROR: SPECNORM_TORCH must be one of auto, cpu, cuda (got 'gpu')"
    assert not venv.exists()


def test_helper_cli_exit_codes():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "torch_build.py"), "stamp", "gpu", "pyproject.toml"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1
