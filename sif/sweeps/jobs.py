"""The jobs of a sweep folder: each job folder's overrides (.hydra/overrides.yaml), state and metrics
(summary.json, numeric entries flattened with dots)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

DONE_MARKER = "DONE"  # the same name as sif.runner.DONE_MARKER (kept import-free: this runs in every launch)
MAX_DEPTH = 3  # "eval.synth.accuracy" is kept, deeper entries are not
MAX_NESTED_PER_DICT = 16  # a nested dict with more numeric leaves (per-class tables, ...) is left out


@dataclass
class JobRecord:
    name: str  # the job folder's name (the id derived from its overrides)
    path: Path
    num: Optional[int] = None  # Hydra's job number in the multirun that last ran it
    overrides: dict[str, str] = field(default_factory=dict)  # "key" -> "value", in command-line order
    status: str = "not finished"  # done (DONE marker written) | not finished (failed, or stopped)
    metrics: dict[str, float] = field(default_factory=dict)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _histogram_like(node: dict) -> bool:
    """Dicts keyed by numbers (chain-length histograms, per-step tables) are data, not metrics."""
    return bool(node) and all(str(k).lstrip("-").replace(".", "", 1).isdigit() for k in node)


def flatten_metrics(summary: dict, max_depth: int = MAX_DEPTH) -> dict[str, float]:
    """Numeric top-level entries, and numeric leaves of small nested dicts as `a.b(.c)`; booleans,
    strings, lists and histogram-like dicts are left out."""
    out: dict[str, float] = {}

    def walk(node: dict, prefix: str, depth: int) -> None:
        leaves = {k: v for k, v in node.items() if _is_number(v)}
        if depth > 1 and (len(leaves) > MAX_NESTED_PER_DICT or _histogram_like(node)):
            return
        for key, value in node.items():
            name = f"{prefix}{key}"
            if _is_number(value):
                out[name] = float(value)
            elif isinstance(value, dict) and depth < max_depth:
                walk(value, name + ".", depth + 1)

    walk(summary, "", 1)
    return out


def parse_override(text: str) -> tuple[str, str]:
    """'+sweep/ablation=no_progress' -> ('+sweep/ablation', 'no_progress'); '~a.b' -> ('~a.b', '')."""
    key, sep, value = text.partition("=")
    return key.strip(), value.strip() if sep else ""


def _job_num(job_dir: Path) -> Optional[int]:
    hydra_yaml = job_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.exists():
        return None
    try:
        data = yaml.safe_load(hydra_yaml.read_text()) or {}
        num = data.get("hydra", {}).get("job", {}).get("num")
        return int(num) if num is not None else None
    except (yaml.YAMLError, ValueError, TypeError, AttributeError):
        return None


def read_job(job_dir: Path) -> Optional[JobRecord]:
    """A job folder's record, or None when the folder is not a Hydra job folder."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.exists():
        return None
    try:
        raw = yaml.safe_load(overrides_file.read_text()) or []
    except yaml.YAMLError:
        raw = []
    record = JobRecord(name=job_dir.name, path=job_dir, num=_job_num(job_dir))
    record.overrides = dict(parse_override(str(o)) for o in raw)
    summary_file = job_dir / "summary.json"
    summary: Any = None
    if summary_file.exists():
        try:
            summary = json.loads(summary_file.read_text())
        except (OSError, json.JSONDecodeError):
            summary = None
    if isinstance(summary, dict):
        record.metrics = flatten_metrics(summary)
    if (job_dir / DONE_MARKER).exists():
        record.status = "done"
    return record


def collect_jobs(sweep_dir: Path) -> list[JobRecord]:
    """Every job folder directly under `sweep_dir`, in job-number order (unnumbered ones last, by name)."""
    if not sweep_dir.is_dir():
        return []
    records = [r for d in sorted(sweep_dir.iterdir()) if d.is_dir() and (r := read_job(d)) is not None]
    return sorted(records, key=lambda r: (r.num is None, r.num if r.num is not None else 0, r.name))


def varying_keys(records: list[JobRecord]) -> list[str]:
    """Override keys whose value differs between jobs (or is missing in some), in first-seen order."""
    keys: list[str] = []
    for r in records:
        keys += [k for k in r.overrides if k not in keys]
    return [k for k in keys if len({r.overrides.get(k) for r in records}) > 1]


def constant_overrides(records: list[JobRecord]) -> list[str]:
    varying = set(varying_keys(records))
    seen: dict[str, str] = {}
    for r in records:
        for k, v in r.overrides.items():
            if k not in varying:
                seen.setdefault(k, v)
    return [f"{k}={v}" if v or not k.startswith("~") else k for k, v in seen.items()]


def metric_columns(records: list[JobRecord]) -> list[str]:
    """Metric names in first-seen order, `objective` first and `wall_time_s` last."""
    names: list[str] = []
    for r in records:
        names += [k for k in r.metrics if k not in names]
    head = [n for n in ("objective",) if n in names]
    tail = [n for n in ("wall_time_s",) if n in names]
    return head + [n for n in names if n not in head and n not in tail] + tail


def varying_metrics(records: list[JobRecord], columns: list[str]) -> list[str]:
    def distinct(name: str) -> int:
        values = {r.metrics[name] for r in records if name in r.metrics and not math.isnan(r.metrics[name])}
        return len(values)

    return [c for c in columns if distinct(c) > 1]
