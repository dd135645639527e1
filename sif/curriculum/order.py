"""Easy -> hard sample order for curricula (`curriculum.order_by`).

Difficulty is the number of `<area>` steps of the sample's target chain (`chain_length`) or its
`num_objects`. The sort is stable: samples of equal difficulty keep their dataset order, and samples
without the field (or with a non-number) come last, in dataset order. To train in this order the
GRPO stage selects the dataset in this order and turns TRL's shuffling off (`shuffle_dataset=False`).
"""

from __future__ import annotations

import math
from typing import Any, Optional

_AREA = "<area>"


def chain_length(sample: Any) -> Optional[int]:
    chain = sample.get("chain") if isinstance(sample, dict) else None
    return chain.count(_AREA) if isinstance(chain, str) else None


def num_objects(sample: Any) -> Optional[float]:
    value = sample.get("num_objects") if isinstance(sample, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def difficulty_order(samples: list[Any], order_by: str) -> list[int]:
    """Indices from easy to hard; the identity for order_by == "none"."""
    if order_by == "none":
        return list(range(len(samples)))
    if order_by == "chain_length":
        key = chain_length
    elif order_by == "num_objects":
        key = num_objects
    else:
        raise ValueError(f"unknown order_by {order_by!r}; known: none, chain_length, num_objects")

    def sort_key(i: int) -> tuple:
        d = key(samples[i])
        return (d is None, d if d is not None else 0, i)

    return sorted(range(len(samples)), key=sort_key)
