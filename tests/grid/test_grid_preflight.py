"""Checks before anything runs (specnorm.grid.preflight, docs/pipeline.md#before-anything-runs) and
the job sizes they rest on (specnorm.grid.jobs, packs): a dataset that is never downloaded needs a
source; `retries` must allow the train jobs a cell or pack needs; `specnorm plan` stops with one line.
Torch-free, seconds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import specnorm.grid as grid
from specnorm.layout import Resources

REPO = Path(__file__).resolve().parents[2]


def experiments(**jobs) -> dict:
    exp = grid.load_experiments(REPO / "config.yaml")
    exp["jobs"] = {**exp["jobs"], **jobs}
    return exp


def test_a_dataset_never_downloaded_needs_a_source(tmp_path):
    g = grid.expand(experiments(), "imagenet_resnet")
    res = Resources(tmp_path / "resources")
    with pytest.raises(grid.GridError, match=r"^config key 'sources': dataset 'imagenet' \(ILSVRC2012\) has no source"):
        grid.check_sources(g, {}, res)
    grid.check_sources(g, {"imagenet": "/data/ILSVRC2012/train"}, res)  # given (the prepare job checks it)
    for found in (res.manifest("imagenet"), res.source_record("imagenet"), res.raw("imagenet") / "train"):
        found.parent.mkdir(parents=True, exist_ok=True)
        found.write_text("{}")  # prepared, recorded by `download`, or copied into raw/ by hand
        grid.check_sources(g, None, res)
        found.unlink()
    grid.check_sources(grid.expand(experiments(), "cifar10_nosn"), None, res)  # downloaded automatically
    grid.check_sources(grid.expand(experiments(), "demo"), None, res)  # built in


def test_retries_must_allow_the_train_jobs_of_the_longest_pack():
    exp = experiments(pack_size=4)
    g = grid.expand(exp, "cifar10_nosn")
    est = grid.Throughput.load()
    jobs = grid.job_settings(exp)
    packs = grid.pack_cells(g, 4)
    longest = max(grid.pack_hours([g.cells[c].config for c in p.cells], est) for p in packs)
    short = {**jobs, "max_runtime": int(longest * 60 * jobs["runtime_factor"] // 3)}  # a third of the longest
    assert grid.train_jobs_needed(g, jobs, est) == 1 and grid.train_jobs_needed(g, short, est) == 4
    grid.check_retries(4, 3, short)
    with pytest.raises(grid.GridError, match=rf"^retries=2 allows 3 train job\(s\) per cell or pack, but one needs 4 "
                                             rf"of at most {short['max_runtime']} min .*--retries 3 or more"):
        grid.check_retries(4, 2, short)


def write_config(tmp_path: Path, **extra) -> Path:
    import yaml

    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({**grid.load_experiments(REPO / "config.yaml"), **extra}))
    return cfg


def test_specnorm_plan_stops_with_one_line_when_a_dataset_has_no_source(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # resources/ of the working directory: empty
    cfg = write_config(tmp_path)
    assert grid.plan_main(["--config", str(cfg), "--set", "celeba_scale"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("specnorm plan: config key 'sources': dataset 'celeba' (CelebA) has no source")
    cfg = write_config(tmp_path, sources={"celeba": str(tmp_path / "img_align_celeba.zip")})
    assert grid.plan_main(["--config", str(cfg), "--set", "celeba_scale"]) == 0
    assert "celeba_scale" in capsys.readouterr().out


def test_specnorm_plan_stops_with_one_line_when_retries_are_too_few(capsys, monkeypatch):
    monkeypatch.setenv("SPECNORM_SLURM_MAX_RUNTIME", "30")  # every cifar10_nosn cell needs several 30-min jobs
    args = ["--config", str(REPO / "config.yaml"), "--set", "cifar10_nosn"]
    exp = experiments()
    jobs = grid.fit_partition(grid.job_settings(exp), env={"SPECNORM_SLURM_MAX_RUNTIME": "30"})
    needed = grid.train_jobs_needed(grid.expand(exp, "cifar10_nosn"), jobs, grid.Throughput.load())
    assert needed > 2
    assert grid.plan_main([*args, "--retries", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"but one needs {needed} of at most 30 min" in err
    assert grid.plan_main([*args, "--retries", str(needed - 1)]) == 0
    assert grid.plan_main(args) == 0  # without --retries, the plan's `jobs` column says it


def test_a_pack_job_leaves_its_score_jobs_their_minutes():
    exp = experiments(pack_size=4)
    g = grid.expand(exp, "imagenet_resnet")
    est = grid.Throughput.load()
    cfgs = [g.cells[c].config for c in grid.pack_cells(g, 4)[0].cells]
    jobs = {**grid.job_settings(exp), "max_runtime": 1000}
    scores = sum(grid.score_minutes(c, jobs, est) for c in cfgs)
    assert grid.train_minutes(cfgs, jobs, est) == 1000 - scores  # the estimate is longer: cut at the limit
    assert grid.train_minutes(cfgs, jobs, est, scoring=False) == 1000
    long = {**jobs, "max_runtime": 100_000}
    assert grid.train_minutes(cfgs, long, est) == grid.pack_runtime_minutes(cfgs, long, est)
    assert grid.train_minutes(cfgs[:1], long, est) == grid.runtime_minutes(cfgs[0], long, est)  # a cell alone


def test_score_and_real_score_runtimes_follow_the_evaluation_seconds():
    exp = experiments(min_runtime=1)
    jobs = grid.job_settings(exp)
    est = grid.Throughput.load()
    cfg = next(iter(grid.expand(exp, "imagenet_resnet").cells.values())).config
    per_eval = est.eval_seconds(cfg)
    assert per_eval == est.table["eval_s"]["imagenet"]
    factor = jobs["runtime_factor"]
    for attempt in (1, 2, 3):
        expected = math.ceil(2 * per_eval * factor * attempt / 60)  # two evaluations, in whole minutes
        assert grid.score_minutes(cfg, jobs, est, attempt) == expected
        assert grid.real_score_minutes(cfg, jobs, est, attempt) == expected
    assert grid.real_score_minutes(cfg, jobs, est, 2) > grid.real_score_minutes(cfg, jobs, est, 1)


def test_site_resources_send_gpu_less_jobs_to_the_cpu_partition():
    env = {"SPECNORM_SLURM_PARTITION": "gpu", "SPECNORM_SLURM_ACCOUNT": "acct"}
    assert grid.site_resources(env) == grid.site_resources(env, cpu=True) == {"slurm_partition": "gpu",
                                                                              "slurm_account": "acct"}
    env["SPECNORM_SLURM_CPU_PARTITION"] = "cpu"
    assert grid.site_resources(env) == {"slurm_partition": "gpu", "slurm_account": "acct"}
    assert grid.site_resources(env, cpu=True) == {"slurm_partition": "cpu", "slurm_account": "acct"}
    assert grid.site_resources({"SPECNORM_SLURM_CPU_PARTITION": "cpu"}) == {}
    assert grid.site_resources({}, cpu=True) == {}
