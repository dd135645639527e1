"""Our held-out synthetic split: a samples JSONL (`sif.data.schema`, read strictly).

Categories come from `Sample.category` (relative_depth, left_right, counting, attribute); gt boxes and the
exact depth map (`Sample.depth`) come with every sample, so box metrics and depth consistency are always
computed. Relative image/depth paths resolve under image_root / depth_root, else the file's folder.
Answers: `answers_match(answer, Sample.answer, Sample.choices)` (a letter for multiple choice, a number
for counting, else a word). No compat mode (there is no original script).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from sif.answers import answers_match
from sif.data.paths import PathEscapeError, resolve_under
from sif.data.records import read_samples
from sif.data.schema import SampleError
from sif.eval.benchmarks.base import Benchmark, EvalItem, Judgement
from sif.registry import BENCHMARKS

CATEGORIES = ("relative_depth", "left_right", "counting", "attribute")


@BENCHMARKS.register("synth")
class SynthBench(Benchmark):
    name = "synth"

    def _file(self) -> Path:
        if not self.path.is_dir():
            return self.path
        for name in ("test.jsonl", "samples.jsonl"):
            if (self.path / name).is_file():
                return self.path / name
        raise SampleError("no test.jsonl or samples.jsonl in the folder", str(self.path))

    def _resolve(self, root: Optional[str], rel: str, path: Path, sid: str, name: str) -> str:
        base = root or str(path.parent)
        try:
            resolved = resolve_under(base, rel) if not Path(rel).is_absolute() else Path(rel)
        except PathEscapeError as exc:
            raise SampleError(str(exc), str(path), None, name, sid) from None
        if not resolved.is_file():
            raise SampleError(f"file missing: {resolved}", str(path), None, name, sid)
        return str(resolved)

    def load(self) -> list[EvalItem]:
        path = self._file()
        items = []
        for sample in read_samples(path, strict=True):
            image = self._resolve(getattr(self.cfg, "image_root", None), sample.image, path, sample.id, "image")
            depth = (self._resolve(self.depth_root, sample.depth, path, sample.id, "depth")
                     if sample.depth else None)
            items.append(EvalItem(
                id=sample.id, image=image, question=sample.question, answer=sample.answer,
                choices=sample.choices, category=sample.category or "all", gt_boxes=list(sample.gt_boxes),
                depth=depth, meta={"source": sample.source, "num_objects": sample.num_objects},
            ))
        return items

    def judge(self, item: EvalItem, answer: Optional[str]) -> Judgement:
        details: dict[str, Any] = {}
        return Judgement(answer is not None and answers_match(answer, item.answer, item.choices), details=details)
