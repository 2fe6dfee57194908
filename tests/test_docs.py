"""docs/design.md is the citable list of the official behaviours we copy: every anchor cited in the
repository exists there, every test it names exists, and nothing cites the reference notes that
are not part of the repository (they live outside it, so a reader could not follow the citation)."""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
DEVIATIONS = ROOT / "docs" / "deviations.md"

# Built from pieces so that this file does not match its own patterns.
ABSENT_DOC = re.compile("official-code" + r"\.md", re.IGNORECASE)
NUMBERED_PITFALL = re.compile("pit" + r"falls?\s+\d", re.IGNORECASE)
ANCHOR_REF = re.compile(r"design\.md#([A-Za-z0-9_-]+)")  # our slugs are ASCII
DEVIATION_REF = re.compile(r"deviations\.md\)?,? ([NADTMXP]\d+)\b")
CODE_REF = re.compile(r"`([\w/]+\.py)::(\w+)`")
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".snakemake", "results", "report", "resources"}


def repo_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored files (what a reader of the repository sees)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
        names = sorted({n for n in out.decode().split("\0") if n})
        return [ROOT / n for n in names if (ROOT / n).is_file()]
    except (OSError, subprocess.SubprocessError):
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.endswith(".egg-info")]
            files += [Path(d) / n for n in names]
        return files


def text_files() -> dict[Path, str]:
    out = {}
    for p in repo_files():
        if p.stat().st_size > 2_000_000:
            continue
        try:
            out[p] = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files cite nothing
    return out


def github_slug(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped (letters, digits, '-', '_' and
    spaces kept), spaces to hyphens."""
    s = heading.strip().lower()
    s = "".join(c for c in s if c in " -_" or unicodedata.category(c)[0] in "LN")
    return s.replace(" ", "-")


def design_anchors() -> list[str]:
    text = DESIGN.read_text(encoding="utf-8")
    slugs: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = github_slug(m.group(1))
            n = sum(1 for s in slugs if s == base or re.fullmatch(re.escape(base) + r"-\d+", s))
            slugs.append(base if n == 0 else f"{base}-{n}")
    return slugs


@pytest.fixture(scope="module")
def files() -> dict[Path, str]:
    return text_files()


def test_slug_rule_matches_github():
    assert github_slug("u update") == "u-update"
    assert github_slug("n dis and batch sizes") == "n-dis-and-batch-sizes"
    assert github_slug("Design: the official behaviours we reproduce") == "design-the-official-behaviours-we-reproduce"
    assert github_slug("fp32 sigma") == "fp32-sigma"


def test_every_cited_design_anchor_exists(files):
    anchors = set(design_anchors())
    missing = [f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: design.md#{m.group(1)}"
               for p, text in files.items() for m in ANCHOR_REF.finditer(text) if m.group(1) not in anchors]
    assert not missing, "cited anchors missing from docs/design.md:\n" + "\n".join(missing)


def test_no_file_cites_the_absent_reference_notes(files):
    hits = []
    for p, text in files.items():
        for i, line in enumerate(text.splitlines(), 1):
            if ABSENT_DOC.search(line) or NUMBERED_PITFALL.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:120]}")
    assert not hits, "cite docs/design.md#<anchor> or docs/deviations.md instead:\n" + "\n".join(hits)


def test_anchor_table_lists_every_section():
    text = DESIGN.read_text(encoding="utf-8")
    listed = re.findall(r"^\| \[`([\w-]+)`\]\(#([\w-]+)\) \|", text, re.MULTILINE)
    assert listed and all(a == b for a, b in listed)
    sections = design_anchors()[1:]  # the first heading is the page title
    assert [a for a, _ in listed] == sections
    assert len(set(sections)) == len(sections)


def test_code_and_tests_named_in_design_exist():
    text = DESIGN.read_text(encoding="utf-8")
    refs = CODE_REF.findall(text)
    assert len(refs) > 50
    missing = []
    for path, name in set(refs):
        cands = [ROOT / "tests" / path, ROOT / "src" / "specnorm" / path]
        f = next((c for c in cands if c.is_file()), None)
        if f is None:
            missing.append(f"{path} (no such file)")
        elif not re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b|^{name}\s*[:=]", f.read_text(), re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert not missing, "docs/design.md names what does not exist:\n" + "\n".join(sorted(missing))


def test_cited_deviation_rows_exist(files):
    rows = set(re.findall(r"^\| ([NADTMXP]\d+) \|", DEVIATIONS.read_text(encoding="utf-8"), re.MULTILINE))
    assert {"N1", "T4", "M2", "P3"} <= rows
    missing = [f"{p.relative_to(ROOT)}: {m.group(1)}" for p, text in files.items()
               for m in DEVIATION_REF.finditer(text) if m.group(1) not in rows]
    assert not missing, "cited rows missing from docs/deviations.md:\n" + "\n".join(missing)
