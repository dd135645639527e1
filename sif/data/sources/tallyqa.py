"""TallyQA / GRIT-format importer (spec 1.1): absolute pixel boxes, counting questions."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from sif.data.schema import SampleError, box_problem
from sif.data.sources.base import SourceItem, field_error, import_records, locate_image
from sif.geometry import pixel_to_norm
from sif.registry import SOURCES


def tallyqa_item(cfg, path: Path, line: int, rec: dict) -> SourceItem:
    for name in ("question", "image"):
        if not isinstance(rec.get(name), str):
            raise field_error(rec, path, line, name, "expected a string")
    if not isinstance(rec.get("answer"), (str, int)) or isinstance(rec.get("answer"), bool):
        raise field_error(rec, path, line, "answer", "expected a string or integer")
    img_path, (width, height) = locate_image(cfg, rec["image"], rec, path, line)
    raw = rec.get("bboxs")
    if not isinstance(raw, list) or not raw:
        raise field_error(rec, path, line, "bboxs", "expected a non-empty list of pixel boxes")
    boxes = []
    for b in raw:
        if not (isinstance(b, list) and len(b) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
            raise field_error(rec, path, line, "bboxs", "expected [x1, y1, x2, y2] in pixels")
        nb = tuple(round(v, 3) for v in pixel_to_norm(tuple(float(v) for v in b), width, height))
        problem = box_problem(list(nb))
        if problem:
            raise field_error(rec, path, line, "bboxs", problem)
        boxes.append(nb)
    answer = str(rec["answer"]).strip()
    sid = str(rec.get("id") or rec.get("question_id") or f"tallyqa-{line}")
    return SourceItem(id=sid, question=rec["question"], answer=answer, answer_text=answer,
                      gt_boxes=boxes, image=img_path, category="counting", num_objects=len(boxes),
                      source_file=str(path), source_line=line)


@SOURCES.register("tallyqa")
def tallyqa_items(cfg, strict: bool) -> Iterator[SourceItem | SampleError]:
    return import_records(cfg, tallyqa_item)
