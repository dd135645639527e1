"""SIF-50K-format importer (spec 1.6): the chain comes with the sample and is validated, not regenerated.

SIF-50K's boxes were drawn and depth-averaged per axis by the original generator, so they are kept in
that frame. Depth maps are recomputed with the configured depth provider into our float format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from sif.chain import parse_chain
from sif.data.schema import SampleError, box_problem
from sif.data.sources.base import SourceItem, field_error, import_records, locate_image
from sif.registry import SOURCES


def sif50k_item(cfg, path: Path, line: int, rec: dict) -> SourceItem:
    bad = next((n for n in ("image", "problem", "response") if not isinstance(rec.get(n), str)), None)
    if bad:
        raise field_error(rec, path, line, bad, "expected a string")
    try:
        boxes = rec["normalized_solution_round"]["bbox_3d"]
        chain = rec["messages"][1]["content"]
    except (KeyError, IndexError, TypeError):
        raise field_error(rec, path, line, "normalized_solution_round/messages", "missing GT boxes or chain") from None
    problems = [box_problem(b) for b in boxes] if isinstance(boxes, list) and boxes else ["no boxes"]
    if any(problems):
        raise field_error(rec, path, line, "normalized_solution_round.bbox_3d", next(p for p in problems if p))
    if not isinstance(chain, str) or not parse_chain(chain).valid:
        reason = parse_chain(chain).violations[:1] if isinstance(chain, str) else ["not a string"]
        raise field_error(rec, path, line, "messages[1].content", f"chain breaks the grammar: {reason}")
    img_path, _size = locate_image(cfg, rec["image"], rec, path, line)
    sid = str(rec.get("id") or f"sif50k-{line}")
    return SourceItem(id=sid, question=rec["problem"], answer=rec["response"], answer_text=rec["response"],
                      gt_boxes=[tuple(float(v) for v in b) for b in boxes], image=img_path,
                      category=rec.get("dataset"), extra={"imported_chain": chain},
                      source_file=str(path), source_line=line)


@SOURCES.register("sif50k")
def sif50k_items(cfg, strict: bool) -> Iterator[SourceItem | SampleError]:
    return import_records(cfg, sif50k_item)
