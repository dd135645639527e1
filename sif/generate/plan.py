"""A chain plan: the focus steps with their depths, and the facts a teacher may write about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sif.chain import Focus


@dataclass
class PlannedStep:
    areas: list[Focus]
    role: str  # full | distractor | union | expanded | target


@dataclass
class ChainRequest:
    """Everything a teacher needs to write one chain; the boxes and depths are fixed, the text is not."""

    id: str
    question: str
    answer: str  # what goes into <answer> (a letter for multiple-choice)
    answer_text: str  # the answer in words
    steps: list[PlannedStep]
    image: str  # absolute path of the RGB image
    choices: list[str] | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # qtype, objects [{name, box, depth}], targets
