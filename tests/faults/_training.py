"""Kill-and-resume harness shared by the sft and grpo fault tests.

One uninterrupted reference run; then, per kill point, a run SIGKILLed when checkpoint-k appears (often in
the middle of writing it) or after a random delay, the killed folder scanned, and the same command run again.
The resumed run must start from the newest COMPLETE checkpoint at the kill (the one with trainer_state.json),
reach the same global step, log the same per-step metrics (loss, learning rate, grad norm, rewards,
curriculum weights) as the reference within TOLERANCE, and end with the same weights.
"""

from __future__ import annotations

import json
import math
import random
import time
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults._reliability import (launch_argv, launch_env, popen_launch, record, scan_and_record, sigkill,
                                       wait_for)

# Per-step metrics and final weights of a resumed run vs the uninterrupted one (CPU, fp32). Measured: equal to
# the last bit; the tolerance leaves room for a BLAS that reorders sums between processes.
TOLERANCE = 1e-5


@dataclass
class TrainWorld:
    stage: str
    args: list[str]
    env: dict
    python_code: str | None = None
    compared: tuple[str, ...] = ("loss", "learning_rate", "grad_norm")
    reference: Path | None = None
    stage_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def run_dir(self, cwd: Path) -> Path | None:
        found = sorted((cwd / "outputs").glob(f"{self.stage}-*")) if (cwd / "outputs").is_dir() else []
        return found[0] if found else None

    def run(self, cwd: Path, timeout: float = 600) -> Path:
        proc = subprocess.run(launch_argv(self.args, self.python_code), cwd=cwd, env=launch_env(self.env),
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"{self.stage} run failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
        run = self.run_dir(cwd)
        assert run is not None
        return run

    def make_reference(self, cwd: Path) -> None:
        self.reference = self.run(cwd)
        self.stage_seconds = float(read_json(self.reference / "summary.json")["wall_time_s"])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def complete_checkpoints(run: Path) -> list[Path]:
    """checkpoint-N folders whose trainer_state.json exists and parses, oldest first."""
    out = []
    for d in (run / "checkpoints").glob("checkpoint-*") if (run / "checkpoints").is_dir() else []:
        try:
            read_json(d / "trainer_state.json")
        except (OSError, ValueError):
            continue
        out.append((int(d.name.split("-")[1]), d))
    return [d for _, d in sorted(out)]


def step_metrics(state: dict, keys: tuple[str, ...]) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for h in state["log_history"]:
        if "loss" not in h:
            continue
        out[int(h["step"])] = {k: float(v) for k, v in h.items()
                               if isinstance(v, (int, float)) and any(k == p or k.startswith(p) for p in keys)}
    return out


def weights_max_diff(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert set(wa) == set(wb)
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa) if wa else 0.0


def chain_points(seed: int, kills: int, max_steps: int) -> list[tuple[str, int, float]]:
    """`kills` increasing checkpoints k (drawn without replacement in 1..max_steps-1), alternating two kinds:
    "saving" kills as soon as checkpoint-k's folder appears (mid-write, nearly always), "stepping" kills a
    random 0-0.15 s after checkpoint-k is complete (inside the next step or the next save)."""
    rng = random.Random(seed)
    ks = sorted(rng.sample(range(1, max_steps), kills))
    return [("saving" if i % 2 == 0 else "stepping", k, 0.0 if i % 2 == 0 else round(rng.uniform(0, 0.15), 3))
            for i, k in enumerate(ks)]


def _written_since(path: Path, t0: float) -> bool:
    try:
        return path.stat().st_mtime >= t0  # a folder's mtime moves when a file is created in it
    except FileNotFoundError:
        return False


def _kill_at(world: TrainWorld, cwd: Path, kind: str, k: int, delay: float, log: Path) -> bool:
    """Start a session; SIGKILL it when THIS session writes into checkpoint-k ("saving") or completes it
    ("stepping", then after `delay`). A partial checkpoint-k left by an earlier kill does not count."""
    t0 = time.time() - 0.01
    proc = popen_launch(world.args, cwd=cwd, env=world.env, log=log, python_code=world.python_code)
    if kind == "resumed":  # every checkpoint exists already: kill the session once it has resumed
        wait_for(lambda: log.is_file() and "resuming from" in log.read_text(errors="replace"), proc, timeout=300,
                 poll_s=0.002)
    else:
        target = "" if kind == "saving" else "trainer_state.json"
        wait_for(lambda: (r := world.run_dir(cwd)) is not None
                 and _written_since(r / "checkpoints" / f"checkpoint-{k}" / target, t0), proc, timeout=300,
                 poll_s=0.002)
    if delay:
        wait_for(lambda: False, proc, timeout=delay)
    return sigkill(proc) and not ((r := world.run_dir(cwd)) is not None and (r / "DONE").exists())


def kill_chain(world: TrainWorld, cwd: Path, seed: int, kills: int, max_steps: int,
               check_resume: Any = None) -> list[dict]:
    """Kill one run `kills` times at increasing points (each session resumes the previous one's folder), then
    let the same command finish; compare with the uninterrupted reference. Per kill: the next session must
    resume from the newest complete checkpoint at that kill (`check_resume(run, newest, saved)` adds the
    stage's own checks, e.g. curriculum and progress memory restored). Returns one dict per kill."""
    assert world.reference is not None
    points = chain_points(seed, kills, max_steps)
    kills_done: list[dict] = []
    for i, (kind, k, delay) in enumerate(points):
        if kills_done and kills_done[-1]["newest"] is not None:  # the last session may have run past k
            k = max(k, int(kills_done[-1]["newest"].name.split("-")[1]) + 1)
            if k >= max_steps:  # no step left to kill inside: the last save, or the resumed start-up
                kind, delay = ("saving", 0.0) if k == max_steps else ("resumed", 0.0)
                k = min(k, max_steps)
        log = cwd / f"session-{i}.log"
        assert _kill_at(world, cwd, kind, k, delay, log), f"the run finished before kill point {kind}@{k}"
        run = world.run_dir(cwd)
        assert run is not None
        if kills_done:  # the session just killed resumed from the previous kill's newest checkpoint
            kills_done[-1]["resume_ok"] = _resumed_from(log, kills_done[-1]["newest"])
            if check_resume is not None:
                kills_done[-1]["resume_ok"] &= bool(check_resume(run, kills_done[-1]["newest"], kills_done[-1]["saved"]))
        scan = scan_and_record(run)
        assert not scan["problems"], scan["problems"]
        done = complete_checkpoints(run)
        newest = done[-1] if done else None
        saved = {n: read_json(newest / n) for n in ("curriculum_state.json", "progress_memory.json")
                 if newest is not None and (newest / n).is_file()}
        point = ("resumed start-up" if kind == "resumed" else f"{kind}@checkpoint-{k}") + (f"+{delay:g}s" if delay else "")
        print(f"seed {seed}, {world.stage} kill {i}: {point}; newest complete checkpoint: "
              f"{newest.name if newest else None}")
        kills_done.append({"point": point, "newest": newest, "saved": saved})

    run = world.run(cwd)  # the same command finishes the run
    summary = read_json(run / "summary.json")
    last = kills_done[-1]
    last["resume_ok"] = summary.get("resumed_from") == (str(last["newest"]) if last["newest"] else None)
    if check_resume is not None:
        last["resume_ok"] &= bool(check_resume(run, last["newest"], last["saved"]))

    ref_summary = read_json(world.reference / "summary.json")
    final = read_json(run / "final" / "trainer_state.json")
    ref_final = read_json(world.reference / "final" / "trainer_state.json")
    got, want = step_metrics(final, world.compared), step_metrics(ref_final, world.compared)
    worst, mismatches = 0.0, []
    for step, metrics in want.items():
        for key, value in metrics.items():
            other = got.get(step, {}).get(key)
            diff = math.inf if other is None else abs(other - value)
            worst = max(worst, diff)
            if diff > TOLERANCE:
                mismatches.append((step, key, value, other))
    wdiff = weights_max_diff(run / "final", world.reference / "final")
    final_ok = (not mismatches and wdiff <= TOLERANCE and sorted(got) == sorted(want)
                and summary["global_step"] == ref_summary["global_step"] == max_steps)
    for kd in kills_done:
        record("kill", stage=world.stage, point=kd["point"], matched=bool(kd["resume_ok"] and final_ok), lost=0,
               resumed_from=kd["newest"].name if kd["newest"] else None, worst_metric_diff=worst,
               weights_max_diff=wdiff)
    print(f"{world.stage}: {len(kills_done)} kills; worst per-step metric diff {worst:.3g}, weights {wdiff:.3g}")
    assert all(kd["resume_ok"] for kd in kills_done), [(kd["point"], kd["resume_ok"]) for kd in kills_done]
    assert summary["global_step"] == ref_summary["global_step"] == max_steps
    assert sorted(got) == sorted(want) == list(range(1, max_steps + 1))
    assert not mismatches, mismatches[:5]
    assert wdiff <= TOLERANCE
    return kills_done


def _resumed_from(log: Path, newest: Path | None) -> bool:
    """The session's log says it resumed from `newest` (or, with no complete checkpoint, from nothing)."""
    text = log.read_text(errors="replace")
    return (f"resuming from {newest}" in text) if newest is not None else ("resuming from" not in text)
