"""Image-blind control rows for a held-out synthetic set: what a model scores without looking at the picture.

A claim that a model learned to look is made against these (docs/RESULTS.md, the eval report):

* **chance**: uniform over a question's candidate answers - its options for multiple choice; for an open
  question the objects it names when its kind of question answers with an object (relative depth: 1/2), else
  the answers questions of the same template take in training (open left/right: 1/2; "What shape ...": 1/3).
  Answers are compared as words (`answer_text`), never as option letters.
* **question-only prior**: a rule that reads only the question and the training answers: relative depth
  answers the first object named; left/right the training majority; every other category the candidate most
  often correct among training questions of the same template. Scored with the models' own `answers_match`.
* **majority answer**: the single commonest training answer given to every question (the old reference row).
* **constant-box prior** (`constant_box_prior`): one box per category, fitted on the training ground truth to
  maximise mean IoU, given to every held-out item: mean IoU and Acc@IoU of the eval scorer (union boxes).

A question's *template* is its text with every colour, shape and number word masked, so "How many cubes
are there?" and "How many spheres are there?" share one. None of this reads an image.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from sif.data.scenes import COLORS, PLURALS, SHAPES

CHANCE, PRIOR, MAJORITY = "chance", "question-only prior", "majority answer"
_OBJECT = re.compile(r"\b(" + "|".join(COLORS) + r") (" + "|".join(SHAPES) + r")\b")
_WORDS = re.compile(r"\b(" + "|".join([*COLORS, *SHAPES, *PLURALS.values()]) + r"|\d+)\b")


def question_template(question: str) -> str:
    """The question with colour, shape and number words masked (the part a blind model can condition on)."""
    return _WORDS.sub("_", str(question).strip().lower())


def mentioned_objects(question: str) -> list[str]:
    """'colour shape' names in the order the question mentions them."""
    return [f"{c} {s}" for c, s in _OBJECT.findall(str(question).lower())]


def _answer_text(sample: dict) -> str:
    """The answer as a word: the chosen option's text for multiple choice."""
    text = sample.get("answer_text")
    if text:
        return str(text)
    choices, answer = sample.get("choices"), str(sample.get("answer", ""))
    if choices and len(answer) == 1 and answer.upper() in "ABCDEFGHIJ":
        index = "ABCDEFGHIJ".index(answer.upper())
        if index < len(choices):
            return str(choices[index])
    return answer


class _TrainingAnswers:
    """Answer counts of the training split, by category and by question template."""

    def __init__(self, train: Iterable[dict]) -> None:
        self.by_category: dict[Any, Counter] = defaultdict(Counter)
        self.by_template: dict[str, Counter] = defaultdict(Counter)
        self.object_answers: dict[str, bool] = {}
        self.all = Counter()
        for s in train:
            text = _answer_text(s)
            template = question_template(s.get("question", ""))
            self.by_category[s.get("category")][text] += 1
            self.by_template[template][text] += 1
            self.all[text] += 1
            named = mentioned_objects(s.get("question", ""))
            self.object_answers[template] = self.object_answers.get(template, True) and text.lower() in named
        if not self.all:
            raise ValueError("no training samples to take the answer statistics from")

    def candidates(self, sample: dict) -> list[str]:
        """The answers a blind guesser chooses among (see the module docstring), in a fixed order."""
        if sample.get("choices"):
            return [str(c) for c in sample["choices"]]
        template = question_template(sample.get("question", ""))
        named = mentioned_objects(sample.get("question", ""))
        if named and self.object_answers.get(template, False):
            return named
        seen = self.by_template.get(template) or self.by_category.get(sample.get("category")) or self.all
        return sorted(seen)

    def prior_answer(self, sample: dict) -> str:
        """The question-only prior's answer (a candidate's text)."""
        options = self.candidates(sample)
        category = sample.get("category")
        if category == "relative_depth":
            named = mentioned_objects(sample.get("question", ""))
            return named[0] if named else options[0]
        counts = (self.by_category[category] if category == "left_right"
                  else self.by_template.get(question_template(sample.get("question", ""))) or self.by_category[category])
        return max(options, key=lambda o: (counts.get(o, 0), -options.index(o)))


def baselines(train: Iterable[dict], held_out: Iterable[dict]) -> dict[str, dict[str, float]]:
    """{"chance": {...}, "question-only prior": {...}, "majority answer": {...}}: per category and "overall",
    the mean over `held_out` records (each with "question", "answer", optional "answer_text", "choices",
    "category") of each control's score."""
    from sif.answers import answers_match

    stats = _TrainingAnswers(train)
    majority = stats.all.most_common(1)[0][0]
    rows: dict[str, dict] = {CHANCE: defaultdict(list), PRIOR: defaultdict(list), MAJORITY: defaultdict(list)}
    for s in held_out:
        cat, gt, choices = s.get("category"), str(s["answer"]), s.get("choices")
        values = {CHANCE: 1.0 / max(1, len(stats.candidates(s))),
                  PRIOR: float(answers_match(stats.prior_answer(s), gt, choices)),
                  MAJORITY: float(answers_match(majority, gt, choices))}
        for name, value in values.items():
            rows[name][cat].append(value)
            rows[name]["overall"].append(value)
    return {name: {k: sum(v) / len(v) for k, v in cats.items()} for name, cats in rows.items()}


# ---- boxes ------------------------------------------------------------------------------------------------
def _union(boxes: Sequence[Sequence[float]]) -> Optional[tuple[float, float, float, float]]:
    from sif.geometry import EMPTY_BOX, union_box

    u = union_box([tuple(b) for b in boxes or []])
    return None if u == EMPTY_BOX else u


def _ious(box: np.ndarray, gts: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(box[2], gts[:, 2]) - np.maximum(box[0], gts[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], gts[:, 3]) - np.maximum(box[1], gts[:, 1]), 0, None)
    inter = w * h
    union = (box[2] - box[0]) * (box[3] - box[1]) + (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def fit_constant_box(gts: Sequence[Sequence[float]], grid: float = 0.01, rounds: int = 6) -> tuple[float, ...]:
    """The box maximising mean IoU with `gts`: coordinate search on a `grid` from the coordinate-wise median
    (deterministic; each accepted move raises the training mean IoU, so it ends)."""
    arr = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    box = np.median(arr, axis=0)
    best = _ious(box, arr).mean()
    steps = np.round(np.arange(0.0, 1.0 + grid / 2, grid), 6)
    for _ in range(rounds):
        moved = False
        for k in range(4):
            lo, hi = (0.0, box[k + 2] - grid) if k < 2 else (box[k - 2] + grid, 1.0)
            for v in steps[(steps >= lo) & (steps <= hi)]:
                trial = box.copy()
                trial[k] = v
                score = _ious(trial, arr).mean()
                if score > best + 1e-12:
                    box, best, moved = trial, score, True
        if not moved:
            break
    return tuple(float(round(v, 6)) for v in box)


def constant_box_prior(train: Iterable[dict], held_out: Iterable[dict],
                       iou_threshold: float = 0.5) -> dict[str, Any]:
    """Per category one constant box fitted on training `gt_boxes` (their union box, as the scorer compares),
    scored on `held_out`: {"boxes": {cat: box}, "mean_iou": {cat, overall}, "acc_at_iou": {cat, overall},
    "r2_x", "r2_y"} (R^2 of the box centres, as the eval metrics). Acc@IoU counts IoU > threshold, strictly,
    as the eval scorer."""
    gts_by_cat: dict[Any, list] = defaultdict(list)
    for s in train:
        u = _union(s.get("gt_boxes") or [])
        if u is not None:
            gts_by_cat[s.get("category")].append(u)
    everything = [b for boxes in gts_by_cat.values() for b in boxes]
    if not everything:
        raise ValueError("no training boxes to fit the constant-box prior on")
    boxes = {cat: fit_constant_box(v) for cat, v in gts_by_cat.items()}
    fallback = fit_constant_box(everything)
    from sif.eval.benchmarks.base import center_r2

    ious: dict[Any, list] = defaultdict(list)
    centres = []
    for s in held_out:
        u = _union(s.get("gt_boxes") or [])
        if u is None:
            continue
        box = boxes.get(s.get("category"), fallback)
        value = float(_ious(np.asarray(box), np.asarray([u]))[0])
        ious[s.get("category")].append(value)
        ious["overall"].append(value)
        centres.append(([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], [(u[0] + u[2]) / 2, (u[1] + u[3]) / 2]))
    r2 = center_r2(centres)
    return {"boxes": {str(k): list(v) for k, v in boxes.items()},
            "mean_iou": {str(k): float(np.mean(v)) for k, v in ious.items()},
            "acc_at_iou": {str(k): float(np.mean([x > iou_threshold for x in v])) for k, v in ious.items()},
            "r2_x": r2.get("r2_x"), "r2_y": r2.get("r2_y")}
