"""stage=generate killed (SIGKILL, whole process group) at 5 seeded random points of a run on the embedded
default (synthetic scenes, template teacher), resumed with the same command, and compared with one
uninterrupted run: samples.jsonl, rejects.jsonl and every image / depth file byte-identical, the summary's
counts equal, and no file of the killed folder truncated while looking complete.

Kill points: "after k samples" (k drawn in 1..N-1, watching samples.jsonl) and "after t seconds" (t drawn
over the reference run's wall time, so some land in start-up, some mid-write).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_launch
from tests.faults._reliability import count_lines, popen_launch, record, scan_and_record, sigkill, wait_for
from tests.faults.conftest import SEED

pytestmark = pytest.mark.xdist_group("faults_generate")

N = 48
ARGS = ["stage=generate", f"dataset.num_samples={N}", "depth.batch_size=4"]
KILLS = 5
SUMMARY_KEYS = ("samples", "rejected", "rejected_total", "skipped", "skipped_total", "chain_length_histogram")


def _run_dir(cwd: Path) -> Path | None:
    found = sorted((cwd / "outputs").glob("generate-*")) if (cwd / "outputs").is_dir() else []
    return found[0] if found else None


def _artifacts(run: Path) -> dict[str, bytes]:
    out = {}
    for sub in ("images", "depth"):
        for p in sorted((run / sub).glob("*")):
            if p.is_file() and not p.name.endswith(".tmp"):
                out[f"{sub}/{p.name}"] = p.read_bytes()
    for name in ("samples.jsonl", "rejects.jsonl"):
        out[name] = (run / name).read_bytes()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, float]:
    cwd = tmp_path_factory.mktemp("gen-ref")
    run_launch(ARGS, cwd=cwd)
    run = _run_dir(cwd)
    return run, float(json.loads((run / "summary.json").read_text())["wall_time_s"])  # type: ignore[union-attr]


def kill_point(index: int, stage_seconds: float) -> tuple[str, float]:
    """Even points: after k samples are on disk; odd points: t seconds after the run folder appears (t
    drawn over the stage's own wall time in the reference run)."""
    rng = random.Random(SEED * 1000 + index)
    if index % 2 == 0:
        return "samples", float(rng.randint(1, N - 1))
    return "seconds", round(rng.uniform(0.0, 0.7 * stage_seconds), 3)


@pytest.mark.parametrize("index", range(KILLS))
def test_generate_killed_then_resumed_equals_uninterrupted(reference, tmp_path, index):
    ref_dir, ref_seconds = reference
    mode, value = kill_point(index, ref_seconds)
    for _attempt in range(3):  # a machine faster than the reference may finish first: then kill earlier
        proc = popen_launch(ARGS, cwd=tmp_path, log=tmp_path / "killed.log")
        if mode == "samples":
            reached = wait_for(lambda: (r := _run_dir(tmp_path)) is not None
                               and count_lines(r / "samples.jsonl") >= value, proc, timeout=120, poll_s=0.005)
        else:
            reached = wait_for(lambda: _run_dir(tmp_path) is not None, proc, timeout=120, poll_s=0.005)
            wait_for(lambda: False, proc, timeout=value)
        killed = sigkill(proc) and not ((r := _run_dir(tmp_path)) is not None and (r / "DONE").exists())
        if killed:
            break
        shutil.rmtree(tmp_path / "outputs", ignore_errors=True)
        value = max(1.0, value // 2) if mode == "samples" else value / 2
    point = f"{mode}={value:g}"
    print(f"seed {SEED}, kill point {index}: {point} (stage was {'running' if killed else 'finished'})")
    assert killed, f"the stage finished before the kill point {point}; nothing was interrupted"
    assert reached

    run = _run_dir(tmp_path)
    partial = count_lines(run / "samples.jsonl") if run is not None else 0
    if run is not None:  # the killed folder: nothing truncated that looks complete
        scan = scan_and_record(run)
        assert not scan["problems"], scan["problems"]
        assert not (run / "DONE").exists()

    run_launch(ARGS, cwd=tmp_path)  # the same command resumes
    run = _run_dir(tmp_path)
    assert run is not None and (run / "DONE").exists()
    got, want = _artifacts(run), _artifacts(ref_dir)
    differing = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    summary = json.loads((run / "summary.json").read_text())
    ref_summary = json.loads((ref_dir / "summary.json").read_text())
    lost = N - summary["samples"] - summary["rejected_total"]
    matched = not differing and all(summary[k] == ref_summary[k] for k in SUMMARY_KEYS)
    record("kill", stage="generate", point=point, matched=matched, lost=max(0, lost), partial_samples=partial)
    assert not differing, f"files differ from the uninterrupted run: {differing[:10]}"
    assert {k: summary[k] for k in SUMMARY_KEYS} == {k: ref_summary[k] for k in SUMMARY_KEYS}
    assert summary["resumed"] == partial  # every sample on disk at the kill was kept, none redone
    assert summary["written"] + summary["resumed"] == N and lost == 0
