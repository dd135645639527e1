"""The registered curricula (`curriculum=<name>`).

* `none`: the reward group's weights, constant.
* `paper`: constant too. SIFThinker has no step-indexed schedule (spec §3.5): its only "progressive"
  element is the answer progress memory of `answer_progress` (sif.rewards.answer) and the within-chain
  bonus of `box_iou_progress`; this entry exists so that an experiment can say "as in the paper".
* `linear`: start_weights -> end_weights, linearly in the training fraction p.
* `cosine`: start + (end - start) * (1 - cos(pi p)) / 2 (slow at both ends).
* `step`: start_weights until the first milestone; with k of the m milestones passed (p >= milestone)
  the weights are start + (end - start) * k / m, so one milestone switches start -> end at once.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from sif.curriculum.base import Curriculum, interpolate
from sif.registry import CURRICULA


@CURRICULA.register("none")
class ConstantCurriculum(Curriculum):
    name = "none"


@CURRICULA.register("paper")
class PaperCurriculum(Curriculum):
    """Constant weights: the paper's progression lives in the progress rewards, not in a schedule."""

    name = "paper"


@CURRICULA.register("linear")
class LinearCurriculum(Curriculum):
    name = "linear"

    def _weights(self, p: float) -> dict[str, float]:
        return interpolate(self.start, self.end, p)


@CURRICULA.register("cosine")
class CosineCurriculum(Curriculum):
    name = "cosine"

    def _weights(self, p: float) -> dict[str, float]:
        return interpolate(self.start, self.end, (1.0 - math.cos(math.pi * p)) / 2.0)


@CURRICULA.register("step")
class StepCurriculum(Curriculum):
    name = "step"

    def __init__(self, cfg: Any, base_weights: dict[str, float]) -> None:
        super().__init__(cfg, base_weights)
        if not self.milestones:
            raise ValueError("curriculum=step needs at least one milestone (a fraction of training)")

    def _weights(self, p: float) -> dict[str, float]:
        if not self.milestones:
            return dict(self.start)
        passed = bisect.bisect_right(self.milestones, p)
        return interpolate(self.start, self.end, passed / len(self.milestones))


def build_curriculum(cfg: Any, base_weights: dict[str, float]) -> Curriculum:
    """The curriculum named by `cfg.name` (a CurriculumConfig, DictConfig or dict)."""
    from sif.config.training import CurriculumConfig
    from sif.config.typed import typed

    cfg = typed(CurriculumConfig, cfg)
    cls = CURRICULA.get(str(cfg.name))
    return cls(cfg, base_weights)
