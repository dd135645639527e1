"""Helpers every reward shares: reading untrusted completions, dataset columns, groups and statistics.

Model output is untrusted. `completion_text` turns whatever TRL hands over (a string, a conversational
message list, content blocks, bytes, None) into one bounded `str`; `finite` turns any number-like value
into a finite float inside a range. Nothing here raises on bad input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

# Completions longer than this are scored on their first MAX_COMPLETION_CHARS characters. TRL's
# max_completion_length keeps real completions far below (2048 tokens is about 10k characters); the cap
# only bounds the work spent on pathological input.
MAX_COMPLETION_CHARS = 100_000


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (bytes, bytearray)):
        return bytes(content).decode("utf-8", errors="replace")
    if isinstance(content, list):  # content blocks: [{"type": "text", "text": ...}, {"type": "image"}, ...]
        parts = []
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif isinstance(block, str):
                parts.append(block)
        return "".join(parts)
    return ""


def completion_text(completion: Any) -> str:
    """The text of one completion: a plain string, or the assistant content of a message list."""
    try:
        if isinstance(completion, dict):
            completion = [completion]
        if isinstance(completion, (list, tuple)):
            parts = []
            for msg in completion:
                if isinstance(msg, dict):
                    if msg.get("role", "assistant") == "assistant":
                        parts.append(_content_text(msg.get("content")))
                else:
                    parts.append(_content_text(msg))
            text = "".join(parts)
        else:
            text = _content_text(completion)
    except Exception:  # noqa: BLE001 - untrusted structure; never raise from a reward
        text = ""
    return text[:MAX_COMPLETION_CHARS]


def finite(value: Any, lo: float, hi: float, default: float = 0.0) -> float:
    """`value` as a float clamped to [lo, hi]; `default` for anything non-numeric or non-finite."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    if not math.isfinite(v):
        return default
    return min(hi, max(lo, v))


@dataclass(frozen=True)
class Columns:
    """The dataset columns of one reward call, one entry per completion (TRL repeats each sample's row)."""

    n: int
    kwargs: dict[str, Any]

    def get(self, name: str, i: int, default: Any = None) -> Any:
        col = self.kwargs.get(name)
        if not isinstance(col, (list, tuple)) or i >= len(col):
            return default
        value = col[i]
        return default if value is None else value

    def key(self, i: int) -> str:
        """The progress-memory / group key of row i: the sample `id`, else question + image, else the row."""
        sid = self.get("id", i)
        if isinstance(sid, (str, int)) and not isinstance(sid, bool):
            return str(sid)
        question, image = self.get("question", i), self.get("image", i)
        if isinstance(question, str) or isinstance(image, str):
            return f"q:{question}|img:{image}"
        return f"row:{i}"

    def keys(self) -> list[str]:
        return [self.key(i) for i in range(self.n)]


def group_means(values: Sequence[float], keys: Sequence[str]) -> dict[str, tuple[float, int]]:
    """key -> (sum, count) of `values` grouped by key (not by position)."""
    out: dict[str, tuple[float, int]] = {}
    for v, k in zip(values, keys):
        s, c = out.get(k, (0.0, 0))
        out[k] = (s + float(v), c + 1)
    return out


def frac_zero_variance_groups(rewards: Sequence[float], group_ids: Sequence[Any], atol: float = 1e-8) -> float:
    """Share of groups (completions of one sample) whose rewards are all equal: they carry no advantage."""
    groups: dict[Any, list[float]] = {}
    for r, g in zip(rewards, group_ids):
        groups.setdefault(g, []).append(finite(r, -math.inf, math.inf))
    if not groups:
        return 0.0
    flat = sum(1 for vals in groups.values() if max(vals) - min(vals) <= atol)
    return flat / len(groups)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and population std of the finite values (0, 0 when there are none)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return 0.0, 0.0
    m = sum(vals) / len(vals)
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / len(vals))


def reward_stats(per_reward: dict[str, Sequence[float]], group_ids: Optional[Sequence[Any]] = None,
                 weights: Optional[dict[str, float]] = None) -> dict[str, float]:
    """Flat metrics: rewards/<name>/mean, /std, (frac_zero_std per reward with groups), and the weighted total."""
    out: dict[str, float] = {}
    n = max((len(v) for v in per_reward.values()), default=0)
    total = [0.0] * n
    for name, vals in per_reward.items():
        m, s = mean_std(vals)
        out[f"rewards/{name}/mean"], out[f"rewards/{name}/std"] = m, s
        if group_ids is not None:
            out[f"rewards/{name}/frac_zero_std"] = frac_zero_variance_groups(vals, group_ids)
        w = 1.0 if weights is None else float(weights.get(name, 0.0))
        for i, v in enumerate(vals):
            total[i] += w * finite(v, -math.inf, math.inf)
    if n:
        out["reward/mean"], out["reward/std"] = mean_std(total)
        if group_ids is not None:
            out["frac_reward_zero_std"] = frac_zero_variance_groups(total, group_ids)
    return out


def call_metric(log_metric: Any, name: str, value: float) -> None:
    """Forward a scalar to TRL's `log_metric` kwarg when there is one; logging never breaks a reward."""
    if callable(log_metric):
        try:
            log_metric(name, float(value))
        except Exception:  # noqa: BLE001
            pass

