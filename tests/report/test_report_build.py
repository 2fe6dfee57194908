import base64
import io
import re

import pandas as pd
import pytest
import yaml
from PIL import Image
from report_fixtures import cell_config, make_run

from specnorm import cli
from specnorm.report import Paths, build, main


def _html(demo_report):
    built, _ = demo_report
    return built.index.read_text()


def _table(html, table_id):
    m = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert m, table_id
    return m.group(0)


def test_demo_report_has_every_section(demo_report):
    built, paths = demo_report
    html = _html(demo_report)
    for sid in ("method", "table1", "sweeps", "curves", "hparams", "gamma", "analysis", "theory", "claims",
                "samples", "provenance"):
        assert f'id="{sid}"' in html
    assert 'class="missing"' not in html  # every section has data in the demo
    assert built.counts == {"completed": 42, "diverged": 0, "running": 1, "planned": 0, "unreadable": 0, "failed": 0,
                            "unfinished": 0}


def test_table1_columns_read_digits_metrics_with_their_protocol(demo_report):
    html = _html(demo_report)
    t = _table(html, "others-best")
    assert "digits-IS ↑" in t and "digits-FID ↓" in t and "Inception" not in t
    for row in ("Real data", "SN", "SSN", "BSN", "BSSN", "Welch p, BSN vs SN"):
        assert f"<th>{row}</th>" in t
    assert "s = 0.8 (best of 6 scales)" in t  # SSN's chosen scale is shown
    assert "not computed" in t  # no real-data scores: said, not invented
    assert "protocol paper · extractor digits" in html and "n_gen 1000" in html
    assert 'id="others-final"' in html and 'id="paper-table1"' in html


def test_figures_written_as_png_and_svg_and_embedded(demo_report):
    built, paths = demo_report
    html = _html(demo_report)
    assert set(built.figures) == {"sweep_digits", "curves_digits", "grad_norm_eff_digits", "grad_norm_raw_digits",
                                  "variance_digits", "sigma_ratio_digits", "input_grad_digits", "grad_ratio",
                                  "sweep_prdc_digits", "curves_prdc_digits"}
    for key in built.figures:
        png = paths.out / "figures" / f"{key}.png"
        svg = paths.out / "figures" / f"{key}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in svg.read_text()[:2000]
        assert f'id="fig-{key}"' in html


def test_page_is_self_contained(demo_report):
    html = _html(demo_report)
    srcs = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"url\(", html)


def test_tidy_tables(demo_report):
    _, paths = demo_report
    for name in ("runs", "scores", "group_scores", "table1", "curves", "analysis", "grad_ratio", "train_log",
                 "hparams", "gamma", "claims"):
        assert (paths.tables / f"{name}.csv").exists(), name
    t1 = pd.read_csv(paths.tables / "table1.csv")
    assert set(t1["row"]) == {"Real data", "SN", "SSN", "BSN", "BSSN"} and set(t1["metric"]) == {"is", "fid", "recall"}
    knn = {"precision", "recall", "density", "coverage"}  # the tidy tables carry all four k-NN metrics
    for name in ("scores", "group_scores", "curves", "hparams"):
        assert knn <= set(pd.read_csv(paths.tables / f"{name}.csv")["metric"]), name
    runs = pd.read_csv(paths.tables / "runs.csv")
    assert runs.set_index("run").loc["digits-sn-running-seed9", "state"] == "running"
    sc = pd.read_csv(paths.tables / "scores.csv")
    assert "digits-sn-running-seed9" not in set(sc["run"])  # a running run is not aggregated
    assert {"protocol", "extractor", "extractor_sha256", "n_gen", "n_real", "reference", "resize"} <= set(sc.columns)


def test_theory_table_and_samples_and_provenance(demo_report):
    html = _html(demo_report)
    assert "thm2" in _table(html, "theory-table")
    assert html.count('class="sample"') == 9  # SN ×0.8, SN, BSN, SN_Conv (×1, ×1.75), LeCun ×0.2, no-SN, SN+γ ×2
    assert "0123456789ab" in html and "cpu:x86_64 (2 threads)" in html and "CPU-hours" in html


def test_empty_results_say_what_is_missing(tmp_path):
    built = build(Paths(runs=tmp_path / "runs", cells=None, theory=None, tables=tmp_path / "tables",
                        out=tmp_path / "report"))
    html = built.index.read_text()
    assert "No Table 1 cell has finished scores yet" in html and 'id="paper-table1"' in html
    assert html.count('class="st-not-run"') >= 7 and built.figures == []


def test_progress_and_divergence_of_a_cell_are_shown_and_stale_figures_pruned(tmp_path):
    for seed in (0, 1):
        make_run(tmp_path / "runs", f"sn{seed}", seed=seed, samples=False, analysis=False)
    make_run(tmp_path / "runs", "sn2", seed=2, state="running", samples=False, analysis=False)
    make_run(tmp_path / "runs", "sn3", seed=3, state="diverged", samples=False, analysis=False)
    stale = tmp_path / "r" / "figures" / "sweep_cifar10.svg"
    stale.parent.mkdir(parents=True)
    stale.write_text("<svg/>")
    built = build(Paths(runs=tmp_path / "runs", cells=None, theory=None, tables=tmp_path / "t", out=tmp_path / "r"))
    t = _table(built.index.read_text(), "others-best")
    assert "3/4 seeds done; 1 diverged" in t and "n=3" in t  # the diverged run counts with its evaluations
    assert not stale.exists() and (tmp_path / "r" / "figures" / "curves_digits.svg").exists()


def test_html_is_escaped(tmp_path):
    make_run(tmp_path / "runs", "<script>alert(1)<", samples=False, analysis=False)
    built = build(Paths(runs=tmp_path / "runs", cells=None, theory=None, tables=tmp_path / "t", out=tmp_path / "r"))
    html = built.index.read_text()
    assert "&lt;script&gt;alert(1)&lt;" in html and "<script>" not in html


def test_cli(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "--results" in capsys.readouterr().out
    make_run(tmp_path / "results" / "runs", "sn", samples=False, analysis=False)
    rc = cli.main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "report")])
    assert rc == 0 and "1 completed" in capsys.readouterr().out
    assert (tmp_path / "report" / "index.html").exists() and (tmp_path / "results" / "tables" / "table1.csv").exists()


def test_planned_cells_show_the_papers_numbers_and_progress(tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    for mode in ("sn", "bsn"):
        for seed in (0, 1):
            cfg = cell_config(dataset="cifar10", mode=mode, seed=seed, g_lr=1e-4, d_lr=1e-4)
            (cells / f"cifar10-{mode}-{seed}.yaml").write_text(yaml.safe_dump(cfg))
    built = build(Paths(runs=tmp_path / "runs", cells=cells, theory=None, tables=tmp_path / "t", out=tmp_path / "r"))
    t = _table(built.index.read_text(), "table1-best")  # CIFAR10 is a dataset of the paper's Table 1
    assert "CIFAR10" in t and "IS ↑" in t and "FID ↓" in t and "no scores yet" in t
    assert "paper 7.12 ± 0.07" in t and "paper 26.94 ± 0.58" in t and "0/2 seeds done" in t
    assert built.counts["planned"] == 4


def test_a_results_folder_where_no_cell_finished_still_builds_a_report(tmp_path):
    """Every cell planned, one failed, none scored (a paper run stopped early): the claims that read
    scores, ILSVRC2012's collapse included, say "not run" instead of failing on an empty protocol."""
    cells, runs = tmp_path / "cells", tmp_path / "runs"
    cells.mkdir()
    names = []
    for mode, scale in (("sn", 1.0), ("bsn", 1.0), ("bsn", 1.4)):
        for seed in (0, 1):
            cfg = cell_config(dataset="imagenet", mode=mode, scale=scale, seed=seed, g_lr=1e-4, d_lr=1e-4)
            names.append(f"imagenet-{mode}-s{scale:g}-seed{seed}")
            (cells / f"{names[-1]}.yaml").write_text(yaml.safe_dump(cfg))
    make_run(runs, names[0], state="running", seed=0)
    built = build(Paths(runs=runs, cells=cells, theory=None, tables=tmp_path / "t", out=tmp_path / "r",
                        failed=frozenset({names[0]})))
    assert built.counts["failed"] == 1 and built.counts["planned"] == 5 and built.index.is_file()
    assert {c.status for c in built.claims if c.key == "imagenet"} == {"not run"}
    verdicts = pd.read_csv(tmp_path / "t" / "claims.csv")
    collapse = verdicts[verdicts["key"] == "imagenet"]  # ILSVRC2012 and the failed digits cell's analogue
    assert collapse["scope"].str.contains("ILSVRC2012").any() and set(collapse["status"]) == {"not run"}


def test_table1_holds_only_the_papers_datasets_and_the_others_get_their_own_table(tmp_path):
    for dataset, kw in (("cifar10", {"g_lr": 1e-4, "d_lr": 1e-4}), ("mnist", {})):
        for seed in (0, 1):
            make_run(tmp_path / "runs", f"{dataset}-sn{seed}", dataset=dataset, seed=seed, samples=False,
                     analysis=False, **kw)
    html = build(Paths(runs=tmp_path / "runs", cells=None, theory=None, tables=tmp_path / "t",
                       out=tmp_path / "r")).index.read_text()
    paper_t, others = _table(html, "table1-best"), _table(html, "others-best")
    assert "CIFAR10" in paper_t and "MNIST" not in paper_t and "MNIST" in others and "CIFAR10" not in others
    assert "Datasets outside the paper's Table 1" in html


def test_the_page_says_when_best_and_final_coincide(tmp_path):
    def rising(cfg, it):  # every run is best at its last evaluation
        return 3.0 + it / 1000 + 0.1 * cfg["train"]["seed"], 50.0 - it / 100
    for seed in (0, 1):
        make_run(tmp_path / "runs", f"sn{seed}", seed=seed, quality=rising, samples=False, analysis=False)
    html = build(Paths(runs=tmp_path / "runs", cells=None, theory=None, tables=tmp_path / "t",
                       out=tmp_path / "r")).index.read_text()
    assert 'id="best-final">Best and final coincide: every run was at its best at its last evaluation (4 of 4' in html


def test_claim_counts_read_with_a_space_before_the_analogue_note(demo_report):
    built, _ = demo_report
    assert re.search(r"not run</span>\s+\(\d+ of the verdicts are demo analogues", built.index.read_text())


def test_samples_of_a_grey_dataset_are_shown_grey(tmp_path):
    make_run(tmp_path / "runs", "sn0", analysis=False)  # the fixture's sample grid is random RGB noise
    html = build(Paths(runs=tmp_path / "runs", cells=None, theory=None, tables=tmp_path / "t",
                       out=tmp_path / "r")).index.read_text()
    b64 = re.search(r'<figure class="sample"><img src="data:image/png;base64,([^"]+)"', html).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(b64))).mode == "L" and "grey like the dataset" in html
