"""Curricula: schedules of reward weights over training and an easy -> hard sample order.

Registered in `sif.registry.CURRICULA` by the modules of this package. `CurriculumCallback` lives in
`_callback` (imports transformers) and loads lazily; the GRPO trainer checkpoints the state (sif.grpo.state).
"""

from typing import Any

from sif.autoload import import_submodules
from sif.curriculum.base import Curriculum
from sif.curriculum.schedules import build_curriculum

import_submodules(__name__, __path__)

_LAZY = ("CurriculumCallback",)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from sif.curriculum import _callback

        return getattr(_callback, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Curriculum", "build_curriculum", *_LAZY]
