"""A hostile pipeline config ends in one short line too: values in grid errors are shown truncated
(``specnorm.io.shown``, issue 21)."""

from __future__ import annotations

import pytest
import yaml

from specnorm.grid import load_experiments
from specnorm.grid.expand import expand
from specnorm.grid.schema import GridError
from specnorm.io import SHOWN_CHARS

HUGE = "x" * 500_000


def _config(tmp_path, **over):
    cfg = {"set": "all", "presets": {"tiny": {"dataset.name": "digits", "model.mg": 2, "train.iterations": 10}},
           "blocks": {"b": {"about": "x", "source": "new", "base": ["tiny"]}}, "sets": {"all": ["b"]}, **over}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, width=10**7))
    return path


@pytest.mark.parametrize("over", [
    {"presets": {"tiny": {"dataset.name": "digits", "model.width": HUGE}}},  # a jsonschema type error
    {"blocks": {"b": {"about": "x", "source": "new", "base": [HUGE]}}},  # an unknown preset
    {"set": HUGE},  # neither a set nor a block
])
def test_a_huge_value_in_the_pipeline_config_is_shown_truncated(tmp_path, over):
    with pytest.raises(GridError) as e:
        expand(load_experiments(_config(tmp_path, **over)))
    assert "\n" not in str(e.value) and len(str(e.value)) < 300 + 2 * SHOWN_CHARS and "…" in str(e.value)


def test_a_listing_piped_into_head_stops_quietly(tmp_path):
    """`specnorm cells | head -1`: the reader closes the pipe; no traceback, the shell's 141."""
    import subprocess
    import sys

    cfg = _config(tmp_path, blocks={"b": {"about": "x", "source": "new", "base": ["tiny"],
                                          "grid": {"train.seed": list(range(5000))}}})
    proc = subprocess.Popen([sys.executable, "-m", "specnorm.cli", "cells", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141 and first.startswith(b"digits-"), err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
