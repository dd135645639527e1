"""End to end: `python launch.py -m +sweep=smoke` (Hydra's basic launcher) and the same through
`hydra/launcher=local` (submitit subprocesses): the jobs' folders, the summary table/plot, and a second
invocation that finds every job finished and does no work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from sif.config.store import sif_id
from tests.conftest import run_launch

pytestmark = pytest.mark.slow

SMOKE = ["-m", "+sweep=smoke"]
N_JOBS = 4


def job_dirs(cwd: Path) -> list[Path]:
    sweep = cwd / "outputs" / "multirun" / "smoke"
    return sorted(p for p in sweep.iterdir() if (p / ".hydra" / "overrides.yaml").exists())


def summary_mtimes(cwd: Path) -> dict[str, int]:
    return {p.name: (p / "summary.json").stat().st_mtime_ns for p in job_dirs(cwd)}


def check_sweep(cwd: Path) -> None:
    jobs = job_dirs(cwd)
    assert len(jobs) == N_JOBS
    for job in jobs:
        assert (job / "DONE").exists() and (job / "summary.json").exists()
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert job.name == sif_id(",".join(sorted(overrides)))  # the folder is named by the overrides
    sweep = jobs[0].parent
    md = (sweep / "summary.md").read_text()
    assert f"{N_JOBS} jobs: {N_JOBS} done, 0 not finished" in md
    header = next(line for line in md.splitlines() if line.startswith("| job"))
    assert "| dataset.num_samples |" in header and "| seed |" in header and "| written |" in header
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert sorted(r["job"] for r in rows) == sorted(p.name for p in jobs)
    assert all(r["status"] == "done" and float(r["written"]) >= 2 for r in rows)
    assert {r["dataset.num_samples"] for r in rows} == {"2", "3"} and {r["seed"] for r in rows} == {"1", "2"}
    assert (sweep / "summary.png").read_bytes()[:4] == b"\x89PNG"


def check_second_run_did_no_work(cwd: Path, before: dict[str, int]) -> None:
    assert summary_mtimes(cwd) == before  # no job rewrote its results
    for job in job_dirs(cwd):
        log = (job / "launch.log").read_text()
        assert log.count("already finished") == 1, log


@pytest.fixture
def env(shared_cache) -> dict:
    return {"SIF_CACHE_DIR": str(shared_cache)}


def expected_job_names() -> set[str]:
    return {sif_id(",".join(sorted(["+sweep=smoke", f"dataset.num_samples={n}", f"seed={s}"])))
            for n in (2, 3) for s in (1, 2)}


def test_basic_launcher_smoke_sweep_and_rerun(tmp_path, env):
    run_launch(SMOKE, cwd=tmp_path, env=env, timeout=300)
    check_sweep(tmp_path)
    assert {p.name for p in job_dirs(tmp_path)} == expected_job_names()
    before = summary_mtimes(tmp_path)
    proc = run_launch(SMOKE, cwd=tmp_path, env=env, timeout=300)
    assert proc.stdout.count("already finished") + proc.stderr.count("already finished") >= N_JOBS
    check_second_run_did_no_work(tmp_path, before)


def test_local_launcher_smoke_sweep_and_rerun(tmp_path, env):
    """The same jobs as submitit subprocesses (hydra/launcher=local), then the same command again."""
    local = [*SMOKE, "hydra/launcher=local"]
    run_launch(local, cwd=tmp_path, env=env, timeout=300)
    check_sweep(tmp_path)
    assert {p.name for p in job_dirs(tmp_path)} == expected_job_names()  # as with the basic launcher
    submitit = tmp_path / "outputs" / "multirun" / "smoke" / ".submitit"
    assert len(list(submitit.rglob("*_result.pkl"))) == N_JOBS  # each job ran in its own submitit process
    for job in job_dirs(tmp_path):
        assert json.loads((job / "run_info.json").read_text())["world_size"] == 1
    before = summary_mtimes(tmp_path)
    run_launch(local, cwd=tmp_path, env=env, timeout=300)
    check_second_run_did_no_work(tmp_path, before)
    assert len(list(submitit.rglob("*_result.pkl"))) == 2 * N_JOBS  # the jobs did start, and found DONE
