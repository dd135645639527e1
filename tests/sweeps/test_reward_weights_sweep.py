"""End to end: the ready GRPO sweep `python launch.py -m +sweep=reward_weights hydra/launcher=local`.

Four jobs of the sweep's grid run as submitit subprocesses (all at once), each a short GRPO run of the tiny
model; the summary table (summary.md/csv) and plot (summary.png) land in the sweep folder; the same command
again finds every job finished (DONE) and does no work.

Test-only narrowing, to stay well under 3 minutes on two CI cores: `reward.weights.format=1.0` and
`reward.weights.answer_progress=1.0` on the command line override those two axes of the sweep's grid
(Hydra's basic sweeper: the command line wins over `hydra.sweeper.params`), leaving the grid's
box_iou_progress x depth_consistency = 4 jobs; `stage.max_steps=2 stage.max_completion_length=16` shorten
each job. The synthetic data and the tiny model are put in the shared cache first, so the four jobs that
start together do not all build them.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
import yaml

from sif.config.store import sif_id
from tests.conftest import compose, run_launch

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("multiprocess_cpu")]

GRID_PINS = ["reward.weights.format=1.0", "reward.weights.answer_progress=1.0"]
SHORT = ["stage.max_steps=2", "stage.max_completion_length=16"]
SWEEP = ["-m", "+sweep=reward_weights", "hydra/launcher=local", *GRID_PINS, *SHORT]
VARIED = ("reward.weights.box_iou_progress", "reward.weights.depth_consistency")
N_JOBS = 4
HANG_GUARD_S = 900  # a subprocess timeout that only catches hangs; nothing asserts on wall-clock time


@pytest.fixture
def env(shared_cache) -> dict:
    from sif.generate.dataset_cache import samples_path
    from sif.models.factory import resolve_model_path

    cfg = compose(["+sweep=reward_weights", f"paths.cache_dir={shared_cache}"])
    resolve_model_path(cfg.model, shared_cache)
    samples_path(cfg, "train")
    return {"SIF_CACHE_DIR": str(shared_cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def sweep_dir(cwd: Path) -> Path:
    return cwd / "outputs" / "multirun" / "reward_weights"


def job_dirs(cwd: Path) -> list[Path]:
    return sorted(p for p in sweep_dir(cwd).iterdir() if (p / ".hydra" / "overrides.yaml").exists())


def summary_mtimes(cwd: Path) -> dict[str, int]:
    return {p.name: (p / "summary.json").stat().st_mtime_ns for p in job_dirs(cwd)}


def expected_job_names() -> set[str]:
    fixed = ["+sweep=reward_weights", *GRID_PINS, *SHORT]
    return {sif_id(",".join(sorted([*fixed, f"{VARIED[0]}={b}", f"{VARIED[1]}={d}"])))
            for b in ("0.0", "1.0") for d in ("0.0", "1.0")}


def check_sweep(cwd: Path) -> None:
    jobs = job_dirs(cwd)
    assert {p.name for p in jobs} == expected_job_names()  # one folder per job, named by its overrides
    grid = set()
    for job in jobs:
        assert (job / "DONE").exists()
        overrides = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))
        summary = json.loads((job / "summary.json").read_text())
        assert summary["stage"] == "grpo" and summary["global_step"] == 2
        weights = summary["reward_weights_final"]
        assert weights["format"] == 1.0 and weights["answer_progress"] == 1.0
        assert [weights[k.split(".")[-1]] for k in VARIED] == [float(overrides[k]) for k in VARIED]
        grid.add(tuple(overrides[k] for k in VARIED))
        assert json.loads((job / "run_info.json").read_text())["world_size"] == 1  # one submitit task per job
    assert grid == {(b, d) for b in ("0.0", "1.0") for d in ("0.0", "1.0")}

    sweep = sweep_dir(cwd)
    md = (sweep / "summary.md").read_text()
    assert f"{N_JOBS} jobs: {N_JOBS} done, 0 not finished" in md
    header = next(line for line in md.splitlines() if line.startswith("| job"))
    assert all(f"| {k} |" in header for k in VARIED) and "| objective |" in header
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert sorted(r["job"] for r in rows) == sorted(p.name for p in jobs)
    assert all(r["status"] == "done" and float(r["global_step"]) == 2 for r in rows)
    assert {(r[VARIED[0]], r[VARIED[1]]) for r in rows} == grid
    assert (sweep / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_reward_weights_sweep_local_launcher_and_rerun(tmp_path, env):
    started = time.time()
    run_launch(SWEEP, cwd=tmp_path, env=env, timeout=HANG_GUARD_S)
    first = time.time() - started
    check_sweep(tmp_path)
    submitit = sweep_dir(tmp_path) / ".submitit"
    assert len(list(submitit.rglob("*_result.pkl"))) == N_JOBS  # each job ran in its own submitit process

    before = summary_mtimes(tmp_path)
    summary_md = (sweep_dir(tmp_path) / "summary.md").stat().st_mtime_ns
    second_started = time.time()
    run_launch(SWEEP, cwd=tmp_path, env=env, timeout=HANG_GUARD_S)
    second = time.time() - second_started
    print(f"reward_weights sweep, {N_JOBS} jobs via hydra/launcher=local: {first:.1f} s; re-run (all skipped) "
          f"{second:.1f} s")
    assert summary_mtimes(tmp_path) == before  # no job rewrote its results
    for job in job_dirs(tmp_path):
        log = (job / "launch.log").read_text()
        assert log.count("already finished") == 1, log
    assert len(list(submitit.rglob("*_result.pkl"))) == 2 * N_JOBS  # the jobs did start, and found DONE
    assert (sweep_dir(tmp_path) / "summary.md").stat().st_mtime_ns > summary_md  # the table was rewritten
    check_sweep(tmp_path)
    print(f"sweep: first invocation {first:.1f} s, second {second:.1f} s")
