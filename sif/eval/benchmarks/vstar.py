"""V* Bench (craigwu/vstar_bench): `test_questions.jsonl` with {image, text, category, question_id, label}.

`text` is the question followed by "(A) ... (B) ..." options (one per line, or inline) and usually an
instruction line; the loader splits it into the question and the choices, so the prompt re-adds the
options in our format. Only the categories direct_attributes and relative_position are kept (the
others, OCR / GPT4V-hard, are not part of the 191-question benchmark). overall = mean over all items.

Strict: the letter of the `<answer>` (`extract_choice_letter`) equals the label.
Compat (`eval_vstar.py`): correct iff the label is a substring (case-sensitive) of the answer text, so
"Bigger" counts as B and "(A) or (B)" counts for both; a missing answer is wrong in both modes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from sif.answers import extract_choice_letter
from sif.data.schema import SampleError
from sif.eval.benchmarks._files import depth_for, need, read_records, resolve_image
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore, Judgement, mean
from sif.prompt import CHOICE_LETTERS
from sif.registry import BENCHMARKS

CATEGORIES = ("direct_attributes", "relative_position")
_OPTION = re.compile(r"\(([A-J])\)[ \t]*")


def split_options(text: str) -> tuple[str, list[str]]:
    """'Q?\\n(A) x\\n(B) y\\nAnswer with ...' -> ('Q?', ['x', 'y']). Options must run A, B, C ... in
    order; each ends at the next option or the end of its line. No options -> (text, [])."""
    marks = []
    expected = 0
    for m in _OPTION.finditer(text):
        if m.group(1) == CHOICE_LETTERS[expected]:
            marks.append(m)
            expected += 1
            if expected == len(CHOICE_LETTERS):
                break
    if len(marks) < 2:
        return text.strip(), []
    question = text[:marks[0].start()].strip()
    options = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        options.append(text[m.end():end].split("\n", 1)[0].strip())
    return question, options


@BENCHMARKS.register("vstar")
class VStarBench(Benchmark):
    name = "vstar"

    def _file(self) -> Path:
        return self.path / "test_questions.jsonl" if self.path.is_dir() else self.path

    def load(self) -> list[EvalItem]:
        path = self._file()
        items = []
        for line, rec in read_records(path):
            category = need(rec, "category", str, path, line)
            if category not in CATEGORIES:
                continue
            text = need(rec, "text", str, path, line)
            label = need(rec, "label", str, path, line).strip().strip("()")
            question, options = split_options(text)
            if not options:
                raise SampleError("no '(A) ... (B) ...' options in the text", str(path), line, "text")
            if label not in CHOICE_LETTERS[:len(options)]:
                raise SampleError(f"label {label!r} is not one of the option letters", str(path), line, "label")
            image = resolve_image(self.image_root, need(rec, "image", str, path, line), path, line)
            qid = rec.get("question_id", line)
            items.append(EvalItem(
                id=str(qid), image=image, question=question, answer=label, choices=options,
                category=category, depth=depth_for(self.depth_root, image, str(self.image_root)),
                meta={"text": text},
            ))
        return items

    def judge(self, item: EvalItem, answer: Optional[str]) -> Judgement:
        if answer is None:
            return Judgement(False)
        if self.compat:
            return Judgement(item.answer in answer)
        letter = extract_choice_letter(answer, item.choices)
        return Judgement(letter == item.answer, details={"pred_letter": letter})

    def official(self, scores: list[ItemScore]) -> dict[str, Any]:
        """The official number is the plain accuracy over all items (not a mean of categories)."""
        return {"overall_official": mean([s.score for s in scores])}
