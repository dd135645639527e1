"""Closed config choices as Enums, so OmegaConf rejects a misspelled value while Hydra composes, naming the key
(`stage.image_inputs=depth` -> "Invalid value 'depth', expected one of [rgb+depth, rgb, blank]", full_key
stage.image_inputs).

Members are named by their values (OmegaConf matches a string to a member's NAME, and `rgb+depth` is not an
identifier, hence the functional API), and are `str`s that print as their values, so code that compares with
or formats the plain string keeps working."""

from __future__ import annotations

from enum import Enum
from typing import Sequence


class Choice(str, Enum):
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


def choice(name: str, values: Sequence[str]) -> type[Choice]:
    return Choice(name, [(v, v) for v in values], module=__name__, qualname=name)  # type: ignore[return-value]


ImageInputs = choice("ImageInputs", ("rgb+depth", "rgb", "blank"))
BackendName = choice("BackendName", ("hf", "vllm", "openai"))
RolloutName = choice("RolloutName", ("hf", "hf_fast", "vllm_colocate", "vllm_server", "zoom"))
ZoomMode = choice("ZoomMode", ("union", "per_box"))
ZoomOutside = choice("ZoomOutside", ("clip", "refuse"))


def values(enum: type[Choice]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)
