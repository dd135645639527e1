"""SIF-50K-format importer (spec 1.6): the chain comes with the sample and is validated, not regenerated.

SIF-50K's boxes were drawn and depth-averaged per axis by the original generator, so they are kept in
that frame. Depth maps are recomputed with the configured depth provider into our float format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from sif.chain import parse_chain
from sif.data.images import ImageProblem, image_size
from sif.data.paths import PathEscapeError, resolve_under
from sif.data.schema import SampleError, box_problem
from sif.data.sources.base import SourceItem, field_error, object_records
from sif.registry import SOURCES


@SOURCES.register("sif50k")
def sif50k_items(cfg, strict: bool) -> Iterator[SourceItem | SampleError]:
    path = Path(cfg.dataset.path)
    for entry in object_records(path):
        if isinstance(entry, SampleError):
            yield entry
            continue
        line, rec = entry
        bad = next((n for n in ("image", "problem", "response") if not isinstance(rec.get(n), str)), None)
        if bad:
            yield field_error(rec, path, line, bad, "expected a string")
            continue
        try:
            boxes = rec["normalized_solution_round"]["bbox_3d"]
            chain = rec["messages"][1]["content"]
        except (KeyError, IndexError, TypeError):
            yield field_error(rec, path, line, "normalized_solution_round/messages", "missing GT boxes or chain")
            continue
        problems = [box_problem(b) for b in boxes] if isinstance(boxes, list) and boxes else ["no boxes"]
        if any(problems):
            yield field_error(rec, path, line, "normalized_solution_round.bbox_3d", next(p for p in problems if p))
            continue
        if not isinstance(chain, str) or not parse_chain(chain).valid:
            reason = parse_chain(chain).violations[:1] if isinstance(chain, str) else ["not a string"]
            yield field_error(rec, path, line, "messages[1].content", f"chain breaks the grammar: {reason}")
            continue
        try:
            img_path = resolve_under(cfg.dataset.image_root, rec["image"], cfg.dataset.allow_path_escape)
            image_size(img_path, cfg.dataset.max_pixels)
        except (ImageProblem, PathEscapeError) as exc:
            yield field_error(rec, path, line, "image", str(exc))
            continue
        sid = str(rec.get("id") or f"sif50k-{line}")
        yield SourceItem(id=sid, question=rec["problem"], answer=rec["response"], answer_text=rec["response"],
                         gt_boxes=[tuple(float(v) for v in b) for b in boxes], image=img_path,
                         category=rec.get("dataset"), extra={"imported_chain": chain},
                         source_file=str(path), source_line=line)
