"""Grounding questions on synthetic scenes: "Where is the <object>?" answered by its box as text.

One item per scene index, drawn from `sif.data.scenes` with its own seeded stream, so the training stream and
the held-out set (a disjoint index range) are reproducible and never overlap. The named object is one of the
scene's objects (with one object per scene, the probe of issue 14: position alone; with several, the name
must be bound to the right one). `blank=True` gives the blind control: the same questions over a mid-grey
picture of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HELD_OUT_OFFSET = 10_000_000


@dataclass(frozen=True)
class ProbeTask:
    width: int = 160
    height: int = 120
    min_objects: int = 1
    max_objects: int = 1
    seed: int = 0
    blank: bool = False
    question_first: bool = False  # the question before the picture in the user turn


@dataclass
class ProbeItem:
    index: int
    image: Any  # PIL RGB (blank for the blind control)
    question: str
    answer: str  # the box as text, "[x1,y1,x2,y2]" with 3 decimals
    box: tuple[float, float, float, float]
    name: str


def box_text(box) -> str:
    return "[" + ",".join(f"{float(v):.3f}" for v in box) + "]"


def probe_item(task: ProbeTask, index: int, held_out: bool = False) -> ProbeItem:
    import numpy as np
    from PIL import Image

    from sif.data.scenes import SceneParams, render_scene

    kinds = ("counting",) if task.max_objects < 2 else ("left_right",)
    params = SceneParams(width=task.width, height=task.height, min_objects=task.min_objects,
                         max_objects=task.max_objects, question_types=kinds)
    scene_index = index + (HELD_OUT_OFFSET if held_out else 0)
    scene = render_scene(scene_index, task.seed, params)
    pick = int(np.random.default_rng([task.seed, scene_index, 7]).integers(len(scene.objects)))
    obj = scene.objects[pick]
    rgb = np.full_like(scene.rgb, 128) if task.blank else scene.rgb
    return ProbeItem(index=index, image=Image.fromarray(rgb), question=f"Where is the {obj.name}?",
                     answer=box_text(obj.box), box=tuple(float(v) for v in obj.box), name=obj.name)


def prompt_messages(item: ProbeItem, question_first: bool = False) -> list[dict]:
    parts = [{"type": "image"}, {"type": "text", "text": item.question}]
    return [{"role": "user", "content": parts[::-1] if question_first else parts}]


def completion_messages(item: ProbeItem) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": item.answer}]}]
