"""Open the demo report in headless Chromium (Debian's package, installed here when missing and root):
no console errors, nothing loaded from outside the page, Table 1 and every figure present and decoded.
The full-page screenshot is saved to the repository's results/report-screenshot.png."""

from pathlib import Path

import pytest
from chromium_cdp import Browser, ensure_chromium

SCREENSHOT = Path(__file__).resolve().parents[2] / "results" / "report-screenshot.png"


@pytest.fixture(scope="module")
def chromium():
    exe, why = ensure_chromium()
    if exe is None:
        pytest.skip(why)
    return exe


def test_report_opens_without_errors_with_table1_and_every_figure(chromium, demo_report, tmp_path):
    built, paths = demo_report
    with Browser(chromium, tmp_path / "profile") as b:
        b.open(built.index.as_uri())
        assert b.errors() == []
        requests = b.requests()
        assert requests[0] == built.index.as_uri()
        assert all(u.startswith("data:") for u in requests[1:])  # self-contained: nothing fetched
        assert b.evaluate("document.querySelectorAll('#table1 table#others-best tbody tr').length") == 6
        assert b.evaluate("document.querySelector('#others-best').innerText").count("digits-IS") == 1
        figs = b.evaluate("Array.from(document.querySelectorAll('figure.fig')).map(f => f.id)")
        assert sorted(figs) == sorted(f"fig-{k}" for k in built.figures)
        images = b.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) == len(built.figures) + 9  # figures + sample grids
        assert all(ok and w > 100 and h > 30 for ok, w, h in images)
        assert b.evaluate("document.querySelectorAll('#claims-table tbody tr').length") == 7
        b.screenshot(SCREENSHOT)
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
