"""The sample record (one JSON line) that every stage reads and writes, and its validation.

Validation reports the file, line and field of the first problem; unknown fields are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

Box = tuple[float, float, float, float]
KNOWN_FIELDS = ("id", "source", "image", "depth", "question", "answer", "choices", "gt_boxes",
                "category", "chain", "num_objects")


class SampleError(ValueError):
    """A bad input record; the message names the file, line and field."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 field_name: str | None = None, sample_id: str | None = None) -> None:
        self.file, self.line, self.field, self.sample_id = file, line, field_name, sample_id
        where = ":".join(str(p) for p in (file, line) if p is not None)
        parts = [p for p in (where, f"field {field_name!r}" if field_name else None,
                             f"id {sample_id!r}" if sample_id else None) if p]
        super().__init__(f"{', '.join(parts)}: {message}" if parts else message)
        self.reason = message


@dataclass
class Sample:
    id: str
    image: str
    question: str
    answer: str
    source: str = "synth"
    depth: Optional[str] = None  # path to a float16 .npy depth map (0 nearest .. 1 farthest)
    choices: Optional[list[str]] = None
    gt_boxes: list[Box] = field(default_factory=list)  # normalized per axis, [x1, y1, x2, y2]
    category: Optional[str] = None
    chain: Optional[str] = None  # the assistant target text (<think>...</think><answer>...</answer>)
    num_objects: Optional[int] = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields, kept

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in KNOWN_FIELDS}
        out["gt_boxes"] = [list(b) for b in self.gt_boxes]
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, rec: Any, file: str | None = None, line: int | None = None) -> "Sample":
        """Build and validate a sample from untrusted data; raises SampleError naming the field."""

        def fail(msg: str, fld: str | None = None) -> SampleError:
            sid = rec.get("id") if isinstance(rec, dict) and isinstance(rec.get("id"), (str, int)) else None
            return SampleError(msg, file, line, fld, None if sid is None else str(sid))

        if not isinstance(rec, dict):
            raise fail(f"expected a JSON object, got {type(rec).__name__}")
        for name in ("id", "image", "question", "answer"):
            if name not in rec:
                raise fail("missing", name)
        if not isinstance(rec["id"], (str, int)) or isinstance(rec["id"], bool):
            raise fail("expected a string", "id")
        for name in ("image", "question", "answer"):
            if not isinstance(rec[name], str):
                raise fail(f"expected a string, got {type(rec[name]).__name__}", name)
        for name in ("source", "depth", "category", "chain"):
            if rec.get(name) is not None and not isinstance(rec[name], str):
                raise fail(f"expected a string, got {type(rec[name]).__name__}", name)
        choices = rec.get("choices")
        if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
            raise fail("expected a list of strings", "choices")
        boxes = rec.get("gt_boxes", [])
        if not isinstance(boxes, list):
            raise fail("expected a list of boxes", "gt_boxes")
        parsed: list[Box] = []
        for i, b in enumerate(boxes):
            problem = box_problem(b)
            if problem:
                raise fail(f"box {i}: {problem}", "gt_boxes")
            parsed.append(tuple(float(v) for v in b))  # type: ignore[arg-type]
        num_objects = rec.get("num_objects")
        if num_objects is not None and (not isinstance(num_objects, int) or isinstance(num_objects, bool)):
            raise fail("expected an integer", "num_objects")
        extra = {k: v for k, v in rec.items() if k not in KNOWN_FIELDS}
        return cls(id=str(rec["id"]), image=rec["image"], question=rec["question"], answer=rec["answer"],
                   source=rec.get("source") or "unknown", depth=rec.get("depth"), choices=choices,
                   gt_boxes=parsed, category=rec.get("category"), chain=rec.get("chain"),
                   num_objects=num_objects, extra=extra)


def box_problem(box: Any) -> str | None:
    """Why `box` is not a valid normalized [x1, y1, x2, y2], or None when it is."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return "expected [x1, y1, x2, y2]"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return "coordinates must be numbers"
    if not all(math.isfinite(v) for v in box):
        return "coordinates must be finite"
    x1, y1, x2, y2 = box
    if not all(0.0 <= v <= 1.0 for v in box):
        return f"coordinates outside [0, 1]: {list(box)}"
    if x2 <= x1 or y2 <= y1:
        return f"needs x2 > x1 and y2 > y1: {list(box)}"
    return None
