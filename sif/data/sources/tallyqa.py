"""TallyQA / GRIT-format importer (spec 1.1): absolute pixel boxes, counting questions."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from sif.data.images import ImageProblem, image_size
from sif.data.paths import PathEscapeError, resolve_under
from sif.data.schema import SampleError, box_problem
from sif.data.sources.base import SourceItem, field_error, object_records
from sif.geometry import pixel_to_norm
from sif.registry import SOURCES


@SOURCES.register("tallyqa")
def tallyqa_items(cfg, strict: bool) -> Iterator[SourceItem | SampleError]:
    path = Path(cfg.dataset.path)
    for entry in object_records(path):
        if isinstance(entry, SampleError):
            yield entry
            continue
        line, rec = entry
        for name in ("question", "image"):
            if not isinstance(rec.get(name), str):
                yield field_error(rec, path, line, name, "expected a string")
                break
        else:
            if not isinstance(rec.get("answer"), (str, int)) or isinstance(rec.get("answer"), bool):
                yield field_error(rec, path, line, "answer", "expected a string or integer")
                continue
            try:
                img_path = resolve_under(cfg.dataset.image_root, rec["image"], cfg.dataset.allow_path_escape)
                width, height = image_size(img_path, cfg.dataset.max_pixels)
            except (ImageProblem, PathEscapeError) as exc:
                yield field_error(rec, path, line, "image", str(exc))
                continue
            raw = rec.get("bboxs")
            if not isinstance(raw, list) or not raw:
                yield field_error(rec, path, line, "bboxs", "expected a non-empty list of pixel boxes")
                continue
            boxes, problem = [], None
            for b in raw:
                if not (isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
                    problem = "expected [x1, y1, x2, y2] in pixels"
                    break
                nb = tuple(round(v, 3) for v in pixel_to_norm(tuple(float(v) for v in b), width, height))
                problem = box_problem(list(nb))
                if problem:
                    break
                boxes.append(nb)
            if problem:
                yield field_error(rec, path, line, "bboxs", problem)
                continue
            answer = str(rec["answer"]).strip()
            sid = str(rec.get("id") or rec.get("question_id") or f"tallyqa-{line}")
            yield SourceItem(id=sid, question=rec["question"], answer=answer, answer_text=answer,
                             gt_boxes=boxes, image=img_path, category="counting", num_objects=len(boxes),
                             source_file=str(path), source_line=line)
