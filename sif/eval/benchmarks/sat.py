"""SAT real test (HF array/SAT, split "test", 150 items) exported to JSON / JSONL (or parquet).

Record: {image_bytes: [image, ...], question, answers: [choice, ...], question_type, correct_answer}
(+ optional id). Each image is base64 text, raw bytes or {"bytes": ...} (HF Image feature); instead of
`image_bytes` a record may give `images`: [path, ...] under image_root. Embedded images are written once,
content-addressed, to the cache folder. Multi-image items are KEPT: all image paths are in
`meta["images"]` and `image` is the first (a single-image backend sees only that one); they are never
skipped. Categories are the question types; accuracy is over all items. The gt is stored as the letter
of `correct_answer` among `answers`; the prediction may name the letter or the exact (normalized) choice
text (`extract_choice_letter`).

Compat (`evaluation/sat/eval_sat.py`): a missing `<answer>` is replaced by the gt (counted correct);
the predicted choice is the first choice (list order) whose lower-cased text is a substring of the
lower-cased answer; multi-image items were skipped but still counted in the denominator (so: wrong).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from sif.answers import extract_choice_letter
from sif.data.schema import SampleError
from sif.eval.benchmarks._files import depth_for, image_bytes, materialize, need, read_records, resolve_image
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore, Judgement, mean
from sif.prompt import CHOICE_LETTERS
from sif.registry import BENCHMARKS


@BENCHMARKS.register("sat")
class SATBench(Benchmark):
    name = "sat"

    def _file(self) -> Path:
        if not self.path.is_dir():
            return self.path
        for name in ("test.jsonl", "test.json", "test.parquet"):
            if (self.path / name).is_file():
                return self.path / name
        raise SampleError("no test.jsonl / test.json / test.parquet in the folder", str(self.path))

    def _images(self, rec: dict, path: Path, line: int) -> list[str]:
        if rec.get("image_bytes") is not None:
            raw = need(rec, "image_bytes", list, path, line)
            images = [materialize(image_bytes(v, path, line, "image_bytes"), self.cache_dir, path, line,
                                  "image_bytes") for v in raw]
        else:
            paths = need(rec, "images", list, path, line)
            images = [resolve_image(self.image_root, p, path, line, "images") for p in paths]
        if not images:
            raise SampleError("no image", str(path), line, "image_bytes")
        return images

    def load(self) -> list[EvalItem]:
        path = self._file()
        items = []
        for line, rec in read_records(path):
            choices = need(rec, "answers", list, path, line)
            if not 2 <= len(choices) <= len(CHOICE_LETTERS) or not all(isinstance(c, str) for c in choices):
                raise SampleError(f"expected 2..{len(CHOICE_LETTERS)} strings", str(path), line, "answers")
            correct = need(rec, "correct_answer", str, path, line)
            hits = [i for i, c in enumerate(choices) if c == correct]
            if len(hits) != 1:
                raise SampleError(f"correct_answer {correct!r} is not exactly one of the answers",
                                  str(path), line, "correct_answer")
            images = self._images(rec, path, line)
            items.append(EvalItem(
                id=str(rec.get("id", f"sat-{line}")), image=images[0],
                question=need(rec, "question", str, path, line), answer=CHOICE_LETTERS[hits[0]],
                choices=list(choices), category=str(rec.get("question_type") or "all"),
                depth=depth_for(self.depth_root, images[0], None),
                meta={"images": images, "correct_answer": correct, "multi_image": len(images) > 1},
            ))
        return items

    def judge(self, item: EvalItem, answer: Optional[str]) -> Judgement:
        details: dict[str, Any] = {"multi_image": item.meta.get("multi_image", False)}
        if self.compat:
            if details["multi_image"]:
                return Judgement(False, details=details)
            if answer is None:  # the original: `if output == None: output = gt_answer`
                return Judgement(True, details=details)
            low = answer.lower()
            chosen = next((c for c in item.choices or [] if c.lower() in low), None)
            details["pred_choice"] = chosen
            return Judgement(chosen is not None and chosen == item.meta.get("correct_answer"), details=details)
        if answer is None:
            return Judgement(False, details=details)
        letter = extract_choice_letter(answer, item.choices)
        details["pred_letter"] = letter
        return Judgement(letter == item.answer, details=details)

    def official(self, scores: list[ItemScore]) -> dict[str, Any]:
        """The official number is the plain accuracy over all items (not a mean of categories)."""
        return {"overall_official": mean([s.score for s in scores])}
