"""The sweep summary (sif.sweeps.summary): table, CSV and plot from job folders, without running jobs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from sif.sweeps.jobs import collect_jobs, flatten_metrics, parse_override
from sif.sweeps.summary import SweepSummary, write_sweep_summary


def make_job(sweep: Path, name: str, num: int | None, overrides: list[str], summary: dict | None, done: bool) -> Path:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if num is not None:
        (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num}}}))
    if summary is not None:
        (job / "summary.json").write_text(json.dumps(summary))
    if done:
        (job / "DONE").write_text("x\n")
    return job


def fake_sweep(root: Path) -> Path:
    sweep = root / "multirun" / "demo"
    base = {"stage": "grpo", "run_dir": "/x", "flag": True, "chain_length_histogram": {"1": 2, "3": 4},
            "steps": [1, 2]}
    make_job(sweep, "bbb", 1, ["reward.weights.format=1.0", "+sweep=demo"],
             {**base, "objective": 0.5, "train": {"reward": 1.5, "kl": 0.01}, "wall_time_s": 3.0}, True)
    make_job(sweep, "aaa", 0, ["reward.weights.format=0.5", "+sweep=demo"],
             {**base, "objective": 0.25, "train": {"reward": 1.0, "kl": 0.02}, "wall_time_s": 2.0}, True)
    make_job(sweep, "ccc", 2, ["reward.weights.format=2.0", "+sweep=demo"], None, False)  # failed job
    (sweep / "not_a_job").mkdir()
    (sweep / "multirun.yaml").write_text("{}")
    return sweep


def test_flatten_metrics_keeps_numbers_and_small_nested_dicts():
    summary = {"objective": 1, "ok": True, "name": "x", "eval": {"synth": {"accuracy": 0.5, "n": 10}, "note": "y"},
               "hist": {"1": 3, "2": 4}, "big": {f"k{i}": i for i in range(40)}, "lst": [1, 2],
               "deep": {"a": {"b": {"c": 1.0}}}}
    flat = flatten_metrics(summary)
    assert flat == {"objective": 1.0, "eval.synth.accuracy": 0.5, "eval.synth.n": 10.0}


def test_parse_override():
    assert parse_override("+sweep/ablation=no_progress") == ("+sweep/ablation", "no_progress")
    assert parse_override("a.b=x=y") == ("a.b", "x=y")
    assert parse_override("~reward.weights.answer") == ("~reward.weights.answer", "")


def test_collect_jobs_orders_by_job_number_and_reads_state(tmp_path):
    records = collect_jobs(fake_sweep(tmp_path))
    assert [r.name for r in records] == ["aaa", "bbb", "ccc"]
    assert [r.status for r in records] == ["done", "done", "not finished"]
    assert records[0].metrics["train.reward"] == 1.0 and "flag" not in records[0].metrics
    assert records[2].metrics == {}


def test_write_sweep_summary_table_csv_and_plot(tmp_path):
    sweep = fake_sweep(tmp_path)
    paths = write_sweep_summary(sweep, title="demo")
    md = paths["md"].read_text()
    assert "3 jobs: 2 done, 1 not finished" in md
    assert "Same in every job: `+sweep=demo`" in md
    header = next(line for line in md.splitlines() if line.startswith("| job"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[:3] == ["job", "status", "reward.weights.format"]
    assert cols[3] == "objective" and cols[-1] == "wall_time_s" and "train.kl" in cols
    assert "| aaa | done | 0.5 | 0.25 |" in md
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["job"] for r in rows] == ["aaa", "bbb", "ccc"]
    assert rows[1]["+sweep"] == "demo" and float(rows[1]["train.reward"]) == 1.5 and rows[2]["objective"] == ""
    png = paths["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_empty_sweep_still_writes_files(tmp_path):
    paths = write_sweep_summary(tmp_path / "nothing")
    assert "0 jobs" in paths["md"].read_text() and paths["png"].exists()


def test_callback_writes_into_the_sweep_folder_and_never_raises(tmp_path, caplog):
    sweep = fake_sweep(tmp_path)
    cfg = OmegaConf.create({"sweep_name": "demo", "hydra": {"sweep": {"dir": str(sweep)}}})
    SweepSummary().on_multirun_end(config=cfg)
    assert (sweep / "summary.md").exists() and (sweep / "summary.csv").exists() and (sweep / "summary.png").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    SweepSummary().on_multirun_end(config=OmegaConf.create({"hydra": {"sweep": {"dir": str(blocker / "x")}}}))
    assert "could not write the sweep summary" in caplog.text
    SweepSummary(enabled=False).on_multirun_end(config=cfg)


def test_callback_is_wired_in_the_primary_config():
    from tests.sweeps._hydra import load_multirun_config

    cfg = load_multirun_config(["stage=generate"])
    targets = {str(v._target_) for v in cfg.hydra.callbacks.values()}
    assert "sif.sweeps.summary.SweepSummary" in targets
    assert "sif.sweeps.slurm_env.SubmititTaskEnv" in targets
