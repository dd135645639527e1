"""The figures of the reliability suite, collected while it runs, and the helpers every fault test shares.

`record(kind, **fields)` appends one event to this process's part file (one JSON line, fsynced, through
`sif.io.JsonlAppender`) and re-merges every part of the current pytest session into
`outputs/reliability.json` (atomically, under a lock), so the file always holds the figures of the tests that
have run so far - with pytest-xdist too (each worker writes its own part; they share the session's
PYTEST_XDIST_TESTRUNUID). docs/RELIABILITY.md quotes this file.

Event kinds (fields):
  kill        stage, point (what triggered the kill), matched (resume equals the uninterrupted run), lost
  api_fault   component (teacher/judge/eval_openai/grpo_judge), fault (the injected spec), survived
  bad_input   target (importer/reader/loader), case, outcome (strict_error/skipped/converted/refused), lost
  scan        files (checked), truncated (files that look complete but are not), temp (leftover *.tmp)
  security    check, hits (occurrences of the planted key or escapes that got through)
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = Path(os.environ.get("SIF_RELIABILITY_DIR", ROOT / "outputs"))
PARTS = OUT_DIR / "reliability-parts"
REPORT = OUT_DIR / "reliability.json"

_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or os.environ.setdefault(
    "SIF_RELIABILITY_RUN", time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8])
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_appender = None


def _part_path() -> Path:
    return PARTS / f"{_RUN_ID}--{_WORKER}-{os.getpid()}.jsonl"


def record(kind: str, **fields: Any) -> None:
    """One event of the suite (see the module docstring), merged into outputs/reliability.json at once."""
    global _appender
    from sif.io import JsonlAppender

    if _appender is None:
        PARTS.mkdir(parents=True, exist_ok=True)
        _cleanup_stale_parts()
        _appender = JsonlAppender(_part_path(), id_field="__none__")
    _appender.append({"kind": kind, "t": round(time.time(), 3), "test": os.environ.get("PYTEST_CURRENT_TEST", "")
                      .split(" ")[0], **fields})
    merge()


def _cleanup_stale_parts(max_age_s: float = 3 * 24 * 3600) -> None:
    now = time.time()
    for part in PARTS.glob("*.jsonl"):
        if not part.name.startswith(_RUN_ID) and now - part.stat().st_mtime > max_age_s:
            part.unlink(missing_ok=True)


def latest_run_id(since: float) -> str | None:
    """The run id of the newest part written after `since` (an xdist controller's workers' session)."""
    parts = [p for p in PARTS.glob("*--*.jsonl") if p.stat().st_mtime >= since] if PARTS.is_dir() else []
    return max(parts, key=lambda p: p.stat().st_mtime).name.split("--")[0] if parts else None


def events(run_id: str | None = None) -> list[dict]:
    out: list[dict] = []
    for part in sorted(PARTS.glob(f"{run_id or _RUN_ID}--*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return sorted(out, key=lambda e: e["t"])


def summarize(evts: Iterable[dict], run_id: str | None = None) -> dict:
    evts = list(evts)
    kills: dict[str, dict] = {}
    # injected: faults the fake server put in a reply; not_sent_budget: calls our own budget_s refused to make
    # (no fault was injected into those, so they are neither injected nor survived)
    api: dict[str, Any] = {"injected": 0, "survived": 0, "not_sent_budget": 0, "by_fault": {}, "by_component": {}}
    bad: dict[str, Any] = {"tried": 0, "by_outcome": {}, "by_target": {}, "cases": []}
    scan = {"folders": 0, "files": 0, "truncated": 0, "temp_files_left": 0}
    security: dict[str, Any] = {"checks": 0, "hits": 0, "files_searched": 0, "by_check": {}}
    lost = 0
    for e in evts:
        kind = e["kind"]
        lost += int(e.get("lost", 0) or 0)
        if kind == "kill":
            k = kills.setdefault(e["stage"], {"kills": 0, "resumes_matched": 0, "points": []})
            k["kills"] += 1
            k["resumes_matched"] += int(bool(e.get("matched")))
            k["points"].append(e.get("point"))
        elif kind == "api_fault":
            n = int(e.get("count", 1))
            fault = str(e["fault"]).split(":")[0]
            comp = api["by_component"].setdefault(e["component"], {"injected": 0, "survived": 0, "not_sent_budget": 0})
            if fault == "budget":
                api["not_sent_budget"] += n
                comp["not_sent_budget"] += n
                continue
            api["injected"] += n
            api["survived"] += n if e.get("survived") else 0
            api["by_fault"][fault] = api["by_fault"].get(fault, 0) + n
            comp["injected"] += n
            comp["survived"] += n if e.get("survived") else 0
        elif kind == "bad_input":
            bad["tried"] += 1
            bad["by_outcome"][e["outcome"]] = bad["by_outcome"].get(e["outcome"], 0) + 1
            bad["by_target"][e["target"]] = bad["by_target"].get(e["target"], 0) + 1
            bad["cases"].append(f"{e['target']}: {e['case']} -> {e['outcome']}")
        elif kind == "scan":
            scan["folders"] += 1
            scan["files"] += int(e.get("files", 0))
            scan["truncated"] += int(e.get("truncated", 0))
            scan["temp_files_left"] += int(e.get("temp", 0))
        elif kind == "security":
            security["checks"] += 1
            security["hits"] += int(e.get("hits", 0))
            security["files_searched"] += int(e.get("files", 0) or 0)
            security["by_check"][e["check"]] = security["by_check"].get(e["check"], 0) + int(e.get("hits", 0))
    bad["cases"] = sorted(set(bad["cases"]))
    return {
        "session": {"run_id": run_id or _RUN_ID, "events": len(evts),
                    "first_event": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(evts[0]["t"])) if evts else None,
                    "last_event": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(evts[-1]["t"])) if evts else None,
                    "span_s": round(evts[-1]["t"] - evts[0]["t"], 1) if evts else 0.0},
        "kills": {s: kills[s] for s in sorted(kills)},
        "kills_total": sum(k["kills"] for k in kills.values()),
        "resumes_matched_total": sum(k["resumes_matched"] for k in kills.values()),
        "api_faults": api,
        "bad_inputs": bad,
        "killed_folder_scan": scan,
        "security": security,
        "samples_lost": lost,
    }


def merge(run_id: str | None = None) -> dict:
    """Merge this session's parts into outputs/reliability.json (atomic replace, under a file lock)."""
    from sif.io import write_json

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(OUT_DIR / ".reliability.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            figures = summarize(events(run_id), run_id)
            write_json(REPORT, figures)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return figures


# ---- processes ------------------------------------------------------------------------------------------

def launch_env(extra: dict | None = None) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(extra or {})}


def launch_argv(args: list[str], python_code: str | None = None) -> list[str]:
    """`python launch.py ARGS`, or `python -c CODE ARGS` (a wrapper that imports test plugins first)."""
    head = [sys.executable, "-c", python_code] if python_code else [sys.executable, str(ROOT / "launch.py")]
    return [*head, *args]


def popen_launch(args: list[str], cwd: Path, env: dict | None = None, log: Path | None = None,
                 python_code: str | None = None) -> subprocess.Popen:
    """`python launch.py ARGS` in its own process group (so SIGKILL reaches any worker it started)."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(launch_argv(args, python_code), cwd=cwd, env=launch_env(env),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def sigkill(proc: subprocess.Popen) -> bool:
    """SIGKILL the process group of `proc` (started by popen_launch); True if it was still running."""
    alive = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    return alive


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen | None, timeout: float,
             poll_s: float = 0.02) -> bool:
    """Poll `predicate` until true (True), the process exits, or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(poll_s)
    return False


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.endswith(b"\n"))
    except FileNotFoundError:
        return 0


# ---- the truncated-file scan ------------------------------------------------------------------------------

TEXT_LOGS = (".log", ".txt", ".md", ".html", ".csv")


def scan_folder(folder: Path, allow_partial_jsonl_tail: bool = False) -> dict:
    """Open every file under `folder` as what its name says it is.

    JSON / YAML must parse; every JSONL line must parse and the file must end with a newline (a record cut
    by a kill would be visible as a last line without one); .npy must load without pickle; images must
    decode fully; safetensors headers and tensors must read; torch files (zip containers) must pass their
    CRC check - read without unpickling anything.
    Write-then-rename temp files (`.name.XXXX.tmp`) are counted apart: they are never taken for the file.
    So are the files of a checkpoint-N folder without trainer_state.json (the mark of a complete checkpoint).
    Returns {"files", "temp", "problems": [...]}.
    """
    import numpy as np
    import yaml
    from PIL import Image

    problems: list[str] = []
    files = temp = 0
    # a checkpoint-N folder without trainer_state.json is marked incomplete (sif.training.resume skips it)
    partial = [d for d in folder.rglob("checkpoint-*") if d.is_dir() and not (d / "trainer_state.json").exists()]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        name = path.name
        if name.endswith(".tmp") or (name.startswith(".") and ".tmp" in name):
            temp += 1
            continue
        if any(d in path.parents for d in partial):
            temp += 1
            continue
        files += 1
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                json.loads(path.read_text(encoding="utf-8"))
            elif suffix == ".jsonl":
                data = path.read_bytes()
                if data and not data.endswith(b"\n") and not allow_partial_jsonl_tail:
                    raise ValueError("last line has no newline (a cut record)")
                lines = data.split(b"\n")[:-1]  # whole lines only (a tolerated partial tail is dropped)
                for line in lines:
                    if line.strip():
                        json.loads(line.decode("utf-8"))
            elif suffix in (".yaml", ".yml"):
                yaml.safe_load(path.read_text(encoding="utf-8"))
            elif suffix == ".npy":
                np.load(path, allow_pickle=False)
            elif suffix in (".png", ".jpg", ".jpeg"):
                with Image.open(path) as im:
                    im.load()
            elif suffix == ".safetensors":
                from safetensors.numpy import load_file

                try:
                    load_file(str(path))
                except (TypeError, ValueError) as exc:
                    if "bfloat16" not in str(exc) and "dtype" not in str(exc):
                        raise
                    from safetensors.torch import load_file as load_torch

                    load_torch(str(path))
            elif suffix in (".pt", ".pth", ".bin"):  # torch.save's zip container: every member's CRC, no unpickling
                import zipfile

                with zipfile.ZipFile(path) as zf:
                    bad = zf.testzip()
                if bad is not None:
                    raise ValueError(f"corrupt member {bad}")
            elif name == "DONE":
                if not (path.parent / "summary.json").is_file():
                    raise ValueError("DONE without summary.json")
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            problems.append(f"{rel}: {type(exc).__name__}: {str(exc)[:200]}")
    return {"files": files, "temp": temp, "problems": problems}


def scan_and_record(folder: Path, **kw: Any) -> dict:
    result = scan_folder(folder, **kw)
    record("scan", folder=str(folder.name), files=result["files"], truncated=len(result["problems"]),
           temp=result["temp"])
    return result
