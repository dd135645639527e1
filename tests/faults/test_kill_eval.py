"""stage=eval killed (SIGKILL) at 5 seeded random points, resumed with the same command, compared with one
uninterrupted run: finished items are never requested or scored again (the server sees each finished id
once), predictions.jsonl holds each id exactly once, and results.json's aggregate and per-item scores are
identical. The model is the deterministic EvalModel behind the fake OpenAI server (backend=openai), on the
held-out synthetic split; the loop, resume rule and files are the same for every backend (sif.eval.runner).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_launch
from tests.faults._evalworld import EvalModel, eval_items
from tests.faults._reliability import count_lines, popen_launch, record, scan_and_record, sigkill, wait_for
from tests.faults.conftest import SEED
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.xdist_group("faults_eval")

N = 32
KILLS = 5
COMMON = ["stage=eval", f"dataset.eval_samples={N}", "stage.max_samples_in_html=4"]


def args(server: FakeOpenAIServer) -> list[str]:
    return COMMON + ["backend=openai", f"backend.base_url={server.base_url}", "backend.model=fake-eval",
                     "backend.max_concurrency=1", "backend.batch_size=1", "backend.cache=false",
                     "backend.max_retries=2", "backend.backoff_base_s=0.01"]


def _run_dir(cwd: Path) -> Path | None:
    found = sorted((cwd / "outputs").glob("eval-*")) if (cwd / "outputs").is_dir() else []
    return found[0] if found else None


def _records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_cache):
    items = eval_items(COMMON, shared_cache)
    model = EvalModel(items)
    with FakeOpenAIServer(model, delay_s=0.04) as server:
        cwd = tmp_path_factory.mktemp("eval-ref")
        run_launch(args(server), cwd=cwd, env={"SIF_CACHE_DIR": str(shared_cache)})
        ref = _run_dir(cwd)
        assert ref is not None and len(server.requests) == N
        yield server, model, ref, float(json.loads((ref / "summary.json").read_text())["wall_time_s"])


def kill_point(index: int, stage_seconds: float) -> tuple[str, float]:
    rng = random.Random(SEED * 1000 + 500 + index)
    if index % 2 == 0:
        return "predictions", float(rng.randint(1, N - 1))
    return "seconds", round(rng.uniform(0.0, 0.7 * stage_seconds), 3)


@pytest.mark.parametrize("index", range(KILLS))
def test_eval_killed_then_resumed_never_rescores_and_equals_uninterrupted(world, tmp_path, index, shared_cache):
    server, model, ref, stage_seconds = world
    env = {"SIF_CACHE_DIR": str(shared_cache)}
    mode, value = kill_point(index, stage_seconds)
    for _attempt in range(3):
        first = len(server.requests)
        proc = popen_launch(args(server), cwd=tmp_path, env=env, log=tmp_path / "killed.log")
        if mode == "predictions":
            reached = wait_for(lambda: (r := _run_dir(tmp_path)) is not None
                               and count_lines(r / "predictions.jsonl") >= value, proc, timeout=120, poll_s=0.005)
        else:
            reached = wait_for(lambda: _run_dir(tmp_path) is not None, proc, timeout=120, poll_s=0.005)
            wait_for(lambda: False, proc, timeout=value)
        killed = sigkill(proc) and not ((r := _run_dir(tmp_path)) is not None and (r / "DONE").exists())
        if killed:
            break
        shutil.rmtree(tmp_path / "outputs", ignore_errors=True)
        value = max(1.0, value // 2) if mode == "predictions" else value / 2
    point = f"{mode}={value:g}"
    print(f"seed {SEED}, eval kill point {index}: {point}")
    assert killed and reached, f"the stage finished before the kill point {point}"

    run = _run_dir(tmp_path)
    finished: set[str] = set()
    if run is not None:
        scan = scan_and_record(run)
        assert not scan["problems"], scan["problems"]
        if (run / "predictions.jsonl").exists():
            finished = {r["id"] for r in _records(run) if not r.get("error")}
    killed_requests = {model.item_id(b) for b in server.requests[first:]}
    assert finished <= killed_requests

    resume_from = len(server.requests)
    run_launch(args(server), cwd=tmp_path, env=env)
    run = _run_dir(tmp_path)
    assert run is not None and (run / "DONE").exists()
    asked_again = [model.item_id(b) for b in server.requests[resume_from:]]
    rescored = sorted(finished & set(asked_again))
    recs = _records(run)
    ids = [r["id"] for r in recs]
    results, ref_results = (json.loads((d / "results.json").read_text()) for d in (run, ref))
    summary = json.loads((run / "summary.json").read_text())
    lost = N - len(set(ids))
    matched = (not rescored and len(ids) == len(set(ids)) == N and results["aggregate"] == ref_results["aggregate"]
               and results["items"] == ref_results["items"])
    record("kill", stage="eval", point=point, matched=matched, lost=max(0, lost), finished_at_kill=len(finished))
    assert not rescored, f"finished items requested again after the resume: {rescored}"
    assert len(asked_again) == N - len(finished) and summary["resumed"] == len(finished)
    assert len(ids) == len(set(ids)) == N, "an item was scored twice or lost"
    assert results["aggregate"] == ref_results["aggregate"]
    assert results["items"] == ref_results["items"]
    assert 0.0 < results["aggregate"]["overall"] < 1.0  # the numbers compared are not trivially 0 or 1
