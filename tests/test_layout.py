"""The one owner of the results/ and resources/ layout (specnorm.layout, docs/pipeline.md): its paths,
and the modules that write or read those folders taking their names from it."""

from __future__ import annotations

import re
from pathlib import Path

from specnorm import catalog, layout, rundir
from specnorm.layout import Resources, Results

REPO = Path(__file__).resolve().parents[1]


def test_results_paths():
    r = Results("out")
    assert r.cell_config("c-00000000") == Path("out/cells/c-00000000.yaml")
    assert r.run_file("c-00000000", rundir.SUMMARY) == Path("out/runs/c-00000000/summary.json")
    assert r.log("train", "pack_0123abcd") == Path("out/logs/train/pack_0123abcd.log")
    assert r.log("report") == Path("out/logs/report.log")
    assert (r.failed_cells, r.unfinished_cells) == (Path("out/logs/failed-cells.txt"), Path("out/logs/unfinished-cells.txt"))
    assert r.theory("full") == Path("out/theory/theory-full.csv") and r.tables == Path("out/tables")
    assert r.real("cifar10", "paper") == Path("out/real/cifar10-paper.json")
    assert Results().root == Path(layout.RESULTS) == Path("results")
    assert Results("{x}").run("{cell}") == Path("{x}/runs/{cell}")  # Snakemake patterns pass through


def test_the_theory_csv_shown_is_the_fullest_there_is(tmp_path):
    r = Results(tmp_path)
    assert r.latest_theory() == tmp_path / "theory" / "theory.csv"  # specnorm theory's own default
    for mode in ("quick", "full"):
        r.theory(mode).parent.mkdir(parents=True, exist_ok=True)
        r.theory(mode).write_text("x\n")
        assert r.latest_theory() == r.theory(mode)
    r.theory("full").unlink()
    assert r.latest_theory() == r.theory("quick")


def test_resources_paths_are_the_ones_data_and_metrics_use(tmp_path):
    from specnorm.data import preparation, store
    from specnorm.metrics import inception, reference

    res = Resources("res dir;x")
    assert res.manifest("cifar10") == Path("res dir;x/data/cifar10/manifest.json")
    assert res.source_record("mnist") == Path("res dir;x/data/mnist/raw/source.json")
    assert (store.MANIFEST_FILE, store.ARRAY_FILE) == (layout.MANIFEST_FILE, layout.ARRAY_FILE)
    assert preparation.SOURCE_RECORD == layout.SOURCE_RECORD  # written by specnorm prepare --download-only
    weights = catalog.get_extractor("inception").weights_file
    assert inception.default_path(tmp_path) == Resources(tmp_path).weights(weights)
    cache = reference.cache_file(tmp_path, "cifar10", "inception", "ab" * 32, "paper", 5000, 0)
    assert cache.parent == Resources(tmp_path).fid_stats


def test_the_report_reads_the_layout(tmp_path):
    from specnorm.report import Paths

    paths = Paths.under(tmp_path / "results", tmp_path / "report")
    r = Results(tmp_path / "results")
    assert (paths.runs, paths.cells, paths.tables, paths.real) == (r.runs, r.cells, r.tables, r.real_dir)
    assert paths.theory == r.latest_theory() and paths.out == tmp_path / "report"
    assert Paths.under(tmp_path, tables=tmp_path / "t").tables == tmp_path / "t"


def test_the_workflow_spells_no_path_of_the_layout():
    """The rules take every results/ and resources/ path from specnorm.layout (common.smk: RESULTS,
    RES): no literal folder or manifest name in any rule file."""
    spelled = re.compile(r"""["'](?:results|resources)/|manifest\.json|fid_stats|failed-cells""")
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")) + [REPO / "Snakefile"]:
        code = "\n".join(line.split("#", 1)[0] for line in smk.read_text().splitlines())  # comments may say it
        code = re.sub(r'"""[\s\S]*?"""', "", code)  # and docstrings
        assert not spelled.findall(code), (smk.name, spelled.findall(code))
