"""The curriculum interface: reward weights as a function of training progress, and an easy->hard order.

A curriculum starts from the reward group's weights (`base_weights`, the order TRL's reward functions
have). `start_weights`/`end_weights` override some of them; names they do not mention keep the base
weight at every point of training. Names that are not active rewards are ignored with a warning (a
curriculum file may mention a reward that a given reward group leaves out).
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar, Optional

log = logging.getLogger(__name__)

STATE_VERSION = 1
ORDER_BY = ("none", "chain_length", "num_objects")


def clamp_progress(progress: Any) -> float:
    """Training progress as a float in [0, 1] (non-numbers and NaN count as 0)."""
    try:
        p = float(progress)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    if math.isnan(p):
        return 0.0
    return min(1.0, max(0.0, p))


class Curriculum:
    """Constant base weights; subclasses override `_weights(p)`."""

    name: ClassVar[str] = "none"

    def __init__(self, cfg: Any, base_weights: dict[str, float]) -> None:
        from sif.config.training import CurriculumConfig
        from sif.config.typed import typed

        cfg = typed(CurriculumConfig, cfg)  # a CurriculumConfig, DictConfig or dict; defaults: the schema
        self.base: dict[str, float] = {str(k): float(v) for k, v in dict(base_weights).items()}
        self.start = self._overlay(cfg.start_weights or {}, "start_weights")
        self.end = self._overlay(cfg.end_weights or {}, "end_weights")
        self.milestones: list[float] = sorted(clamp_progress(m) for m in list(cfg.milestones or []))
        self.order_by: str = str(cfg.order_by)
        if self.order_by not in ORDER_BY:
            raise ValueError(f"curriculum.order_by must be one of {ORDER_BY}, got {self.order_by!r}")
        self.progress: float = 0.0
        self.current: dict[str, float] = dict(self._weights(0.0))

    def _overlay(self, overrides: Any, what: str) -> dict[str, float]:
        out = dict(self.base)
        for k, v in dict(overrides).items():
            if str(k) not in self.base:
                log.warning("curriculum %s names %r, which is not an active reward (%s); ignored",
                            what, k, ", ".join(self.base))
                continue
            out[str(k)] = float(v)
        return out

    # ---- schedule ---------------------------------------------------------------------------------
    def _weights(self, p: float) -> dict[str, float]:
        return dict(self.base)

    def weights_at(self, progress: float) -> dict[str, float]:
        """The reward weights at `progress` (fraction of training, clamped to [0, 1]); remembered as
        `current`."""
        p = clamp_progress(progress)
        weights = {k: float(v) for k, v in self._weights(p).items()}
        self.progress, self.current = p, weights
        return dict(weights)

    def weight_vector(self, progress: float, names: Optional[list[str]] = None) -> list[float]:
        """`weights_at(progress)` in the order of `names` (default: the base order)."""
        weights = self.weights_at(progress)
        return [weights.get(n, 0.0) for n in (names or list(self.base))]

    # ---- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"version": STATE_VERSION, "name": self.name, "progress": self.progress,
                "current": dict(self.current)}

    def load_state_dict(self, state: dict) -> None:
        """Restore the last position; weights are recomputed from it (the schedule itself comes from the
        config, so a resumed run with an edited schedule follows the edit)."""
        if not isinstance(state, dict):
            return
        if state.get("name") not in (None, self.name):
            log.warning("curriculum state was saved by %r, restoring into %r", state.get("name"), self.name)
        self.weights_at(state.get("progress", 0.0))

    # ---- sample order -----------------------------------------------------------------------------
    def sample_order(self, samples: list[dict], seed: Optional[int] = None) -> list[int]:
        """Indices of `samples` from easy to hard (see `sif.curriculum.order.difficulty_order`).

        The order is stable and does not depend on `seed` (accepted so that every order shares one call
        signature): ties keep the dataset order, which the caller may have shuffled with its seed."""
        from sif.curriculum.order import difficulty_order

        return difficulty_order(samples, self.order_by)


def interpolate(start: dict[str, float], end: dict[str, float], t: float) -> dict[str, float]:
    """start + (end - start) * t, per name."""
    return {k: start[k] + (end[k] - start[k]) * t for k in start}
