"""CV-Bench (nyu-visionx/CV-Bench): `test.jsonl` (or `test.parquet`, read with pandas) with
{idx, type (2D/3D), task (Count/Relation/Depth/Distance), image, question, choices, answer "(A)", source}.

Image paths ("img/2D/count/ade20k_10.png") resolve under image_root (default: the release folder); in
the parquet release the image is embedded ({"bytes": ...}) and written once to the cache folder.
Categories are the tasks. Official aggregate (Cambrian / lmms-eval `cv_bench_default_aggregate_results`):
  overall_official = 1/2 * [(acc_ADE20K + acc_COCO) / 2 + acc_Omni3D],
  cvbench_2d = (acc_ADE20K + acc_COCO) / 2,  cvbench_3d = acc_Omni3D.

Strict: `extract_choice_letter` on the `<answer>`. Compat (no SIFThinker script exists; lmms-eval's
extractor): the first letter at the start of the answer, `re.match(r"[\\(\\s]*([A-Z])[\\)\\.\\s]*")`,
case-insensitive, so "Bigger" reads as B and "The answer is C" as T.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from sif.answers import extract_choice_letter, gt_letter
from sif.data.schema import SampleError
from sif.eval.benchmarks._files import depth_for, image_bytes, materialize, need, read_records, resolve_image
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore, Judgement, mean
from sif.registry import BENCHMARKS

_LMMS_LETTER = re.compile(r"[\(\s]*([A-Z])[\)\.\s]*", re.IGNORECASE)
SOURCES = ("ADE20K", "COCO", "Omni3D")


def lmms_eval_letter(text: str) -> str:
    m = _LMMS_LETTER.match(text.strip())
    return m.group(1).upper() if m else ""


@BENCHMARKS.register("cvbench")
class CVBench(Benchmark):
    name = "cvbench"

    def _file(self) -> Path:
        if not self.path.is_dir():
            return self.path
        for name in ("test.jsonl", "test.parquet"):
            if (self.path / name).is_file():
                return self.path / name
        raise SampleError("no test.jsonl or test.parquet in the folder", str(self.path))

    def _image(self, value: Any, path: Path, line: int) -> str:
        if isinstance(value, str):
            return resolve_image(self.image_root, value, path, line)
        if isinstance(value, dict) and not value.get("bytes") and isinstance(value.get("path"), str):
            return resolve_image(self.image_root, value["path"], path, line)
        return materialize(image_bytes(value, path, line, "image"), self.cache_dir, path, line, "image")

    def load(self) -> list[EvalItem]:
        path = self._file()
        items = []
        for line, rec in read_records(path):
            choices = need(rec, "choices", list, path, line)
            if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
                raise SampleError("expected a list of at least two strings", str(path), line, "choices")
            answer = gt_letter(need(rec, "answer", str, path, line), choices)
            if answer is None:
                raise SampleError("answer is not an option letter like '(A)'", str(path), line, "answer")
            source = need(rec, "source", str, path, line)
            image = self._image(rec.get("image"), path, line)
            items.append(EvalItem(
                id=str(rec.get("idx", line)), image=image, question=need(rec, "question", str, path, line),
                answer=answer, choices=list(choices), category=need(rec, "task", str, path, line),
                depth=depth_for(self.depth_root, image, str(self.image_root)),
                meta={"type": rec.get("type"), "source": source},
            ))
        return items

    def judge(self, item: EvalItem, answer: Optional[str]) -> Judgement:
        details = {"source": item.meta.get("source"), "type": item.meta.get("type")}
        if answer is None:
            return Judgement(False, details=details)
        letter = lmms_eval_letter(answer) if self.compat else extract_choice_letter(answer, item.choices)
        details["pred_letter"] = letter
        return Judgement(letter == item.answer, details=details)

    def official(self, scores: list[ItemScore]) -> dict[str, Any]:
        by_source: dict[str, list[float]] = {}
        by_type: dict[str, list[float]] = {}
        for s in scores:
            by_source.setdefault(str(s.details.get("source")), []).append(s.score)
            by_type.setdefault(str(s.details.get("type")), []).append(s.score)
        acc = {k: mean(v) for k, v in sorted(by_source.items())}
        out: dict[str, Any] = {"per_source": acc, "per_type": {k: mean(v) for k, v in sorted(by_type.items())}}
        if all(acc.get(src) is not None for src in SOURCES):
            two_d = (acc["ADE20K"] + acc["COCO"]) / 2  # type: ignore[operator]
            out.update(cvbench_2d=two_d, cvbench_3d=acc["Omni3D"],
                       overall_official=0.5 * (two_d + acc["Omni3D"]))  # type: ignore[operator]
        else:
            out.update(cvbench_2d=None, cvbench_3d=None, overall_official=None)
        return out
