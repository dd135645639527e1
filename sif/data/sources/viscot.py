"""VisCoT (viscot_363k.json format) importer (spec 1.1, 1.2, 1.9).

Boxes are converted once from VisCoT's padded-square frame to per-axis coordinates of the original image
(the original kept VisCoT's numbers but drew them per axis: spec 7, bug 3). The image path is resolved
under dataset.image_root; a leading "cot/" folder is dropped once when needed (the original replaced every
"cot" substring: bug 4). Text/document subsets are skipped, as in the original filter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from sif.data.paths import resolve_under
from sif.data.schema import SampleError, box_problem
from sif.data.sources.base import SourceItem, field_error, import_records, locate_image
from sif.geometry import viscot_square_to_axis
from sif.registry import SOURCES

TEXT_SUBSETS = {"docvqa", "dude", "textvqa", "sroie", "infographicsvqa", "textcap"}
SUFFIX = " Please provide the bounding box coordinate of the region that can help you answer the question better."


def parse_box_text(text: str) -> list[list[float]]:
    """'[0.1, 0.2, 0.3, 0.4]' or several comma-separated lists -> list of boxes (JSON, never eval)."""
    data = json.loads("[" + text.strip() + "]")
    if data and isinstance(data[0], (int, float)):
        data = [data]
    return data


def resolve_image(root, rel: str, allow_escape: bool) -> Path:
    path = resolve_under(root, rel, allow_escape)
    if not path.exists() and rel.startswith("cot/"):
        path = resolve_under(root, rel[len("cot/"):], allow_escape)
    return path


def viscot_item(cfg, path: Path, line: int, rec: dict) -> SourceItem | None:
    if rec.get("dataset") in TEXT_SUBSETS:
        return None
    try:
        conv = rec["conversations"]
        question = conv[0]["value"].replace("<image>\n", "").replace("<image>", "").replace(SUFFIX, "").strip()
        boxes_raw = parse_box_text(conv[1]["value"])
        answer = str(conv[3]["value"]).strip()
    except (KeyError, IndexError, TypeError, AttributeError, json.JSONDecodeError, RecursionError):
        raise field_error(rec, path, line, "conversations", "expected [question, box, prompt, answer] turns") from None
    image_field = rec.get("image")
    rel = image_field[0] if isinstance(image_field, list) and image_field else image_field
    if not isinstance(rel, str):
        raise field_error(rec, path, line, "image", "expected a path")
    img_path, (width, height) = locate_image(cfg, rel, rec, path, line, resolve=resolve_image)
    boxes = []
    for b in boxes_raw:
        problem = box_problem(b)
        if problem:
            raise field_error(rec, path, line, "conversations[1]", f"bad box: {problem}")
        boxes.append(viscot_square_to_axis(tuple(float(v) for v in b), width, height))
    if not boxes:
        raise field_error(rec, path, line, "conversations[1]", "bad box: none given")
    sid = str(rec.get("question_id") or rec.get("id") or f"viscot-{line}")
    return SourceItem(id=sid, question=question, answer=answer, answer_text=answer, gt_boxes=boxes,
                      image=img_path, category=rec.get("dataset"), extra={"viscot_dataset": rec.get("dataset")},
                      source_file=str(path), source_line=line)


@SOURCES.register("viscot")
def viscot_items(cfg, strict: bool) -> Iterator[SourceItem | SampleError]:
    return import_records(cfg, viscot_item)
