"""Run-summary numbers from the trainer's log history and this session's log events."""

from __future__ import annotations

import math
from typing import Any, Optional

from sif.training.callbacks import series


def _finite(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
        return float(value)
    return None


def train_numbers(log_history: list[dict], session: list[dict], train_metrics: dict | None) -> dict:
    """First/last logged training loss (over the whole run, resumed parts included), the session's runtime,
    and tokens/s: non-pad input tokens (text + image tokens, all ranks; TRL's `num_tokens`) per second of
    this session's training."""
    losses = series(log_history, "loss")
    metrics = train_metrics or {}
    runtime = _finite(metrics.get("train_runtime"))
    tokens = max((int(r["num_tokens"]) for r in session if _finite(r.get("num_tokens")) is not None), default=None)
    out: dict[str, Any] = {
        "train_loss_first": losses[0][1] if losses else None,
        "train_loss_last": losses[-1][1] if losses else None,
        "train_loss_mean": _finite(metrics.get("train_loss")),
        "train_losses_logged": len(losses),
        "train_runtime": runtime,
        "train_samples_per_second": _finite(metrics.get("train_samples_per_second")),
        # not "tokens": the run summary masks int values under keys that contain "token" (sif.runinfo)
        "input_ids_seen": tokens,
        "tokens_per_s": round(tokens / runtime, 2) if tokens and runtime else None,
    }
    return out


def objective(eval_loss: Optional[float], train_loss_last: Optional[float]) -> Optional[float]:
    """What a sweeper maximizes: -eval_loss, or -(final train loss) without an eval set."""
    value = _finite(eval_loss)
    if value is None:
        value = _finite(train_loss_last)
    return -value if value is not None else None
