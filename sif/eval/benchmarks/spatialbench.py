"""SpatialBench (SpatialBot, HF RussRobin/SpatialBench): a folder with positional.json, existence.json,
counting.json, reach.json, size.json; items {id?, image (str or list), question, answer}. Image paths
resolve under image_root (default: the folder), as SpatialBot's `os.path.join(data_path, image)`.
Grounding items (id "grounding_*") have no answer metric in SpatialBot and are not loaded. Category = task.
Multi-image items keep every image in `meta["images"]` (`image` is the first).

Per-task rules (SpatialBot `bunny/eval/eval_spatialbench.py`), reported in percent under `official_pct`:
* positional: plain accuracy;
* existence: consecutive items are (pos, neg) pairs; a pair counts iff both are right; % of pairs;
* reach, size: consecutive pairs; each pair scores acc (0..2 right) + acc_plus (1 iff both);
  score = sum / (3 * pairs) * 100;
* counting: 100 - mean relative error in % (|pred - gt| / gt * 100).
Item `score` (hence `overall` / `per_category`) is the plain per-item accuracy, except counting where it
is 1 - relative error (so per_category["counting"] * 100 equals the official counting number).

Strict vs the original:
* the original tests "gt in response" (a substring: "No" is found in "Not sure", "2" in "12"); strict uses
  `answers_match` on the extracted `<answer>`; compat keeps the substring test (on the extracted answer);
* missing `<answer>`: strict = wrong (counting: maximal error); compat = the gt (counted right), as in
  SIFThinker's copy of the script;
* counting: a prediction that is not one integer (none, several, "3.5") is the maximal error instead of a
  crash, and the relative error is capped at 100% per item (the original is uncapped: predicting 10 for
  2 costs 400%); compat keeps the uncapped error; a gt of 0 gives error 0 iff the prediction is 0, else 100%;
* an odd number of items in a pair task is a load error (the original indexes past the end).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from sif.answers import answers_match, parse_number
from sif.data.schema import SampleError
from sif.eval.benchmarks._files import depth_for, need, read_records, resolve_image
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore, Judgement
from sif.registry import BENCHMARKS

TASKS = ("positional", "existence", "counting", "reach", "size")
PAIR_TASKS = ("existence", "reach", "size")


def counting_error(pred: Optional[str], gt: str, capped: bool = True) -> float:
    """Relative error in % of an integer prediction; 100 (the maximum) for anything else."""
    g = parse_number(gt)
    if g is None:
        return 100.0
    if pred is None:
        return 100.0
    if capped:
        p = parse_number(pred)
    else:
        try:
            p = float(int(pred.strip()))
        except (ValueError, OverflowError):
            return 100.0
    if p is None or p != int(p):
        return 100.0
    if g == 0:
        return 0.0 if p == 0 else 100.0
    err = abs(p - g) / abs(g) * 100.0
    return min(err, 100.0) if capped else err


@BENCHMARKS.register("spatialbench")
class SpatialBench(Benchmark):
    name = "spatialbench"

    def _folder(self) -> Path:
        return self.path if self.path.is_dir() else self.path.parent

    def load(self) -> list[EvalItem]:
        folder = self._folder()
        files = [folder / f"{t}.json" for t in TASKS if (folder / f"{t}.json").is_file()]
        if not files:
            raise SampleError(f"none of {', '.join(t + '.json' for t in TASKS)} in the folder", str(folder))
        items: list[EvalItem] = []
        for path in files:
            task = path.stem
            recs = [(line, rec) for line, rec in read_records(path)
                    if not str(rec.get("id", "")).startswith("grounding")]
            if task in PAIR_TASKS and len(recs) % 2:
                raise SampleError(f"{task} needs (positive, negative) pairs: odd item count {len(recs)}",
                                  str(path))
            for k, (line, rec) in enumerate(recs):
                raw = rec.get("image")
                rels = raw if isinstance(raw, list) else [raw]
                images = [resolve_image(self.image_root, r, path, line) for r in rels]
                if not images:
                    raise SampleError("no image", str(path), line, "image")
                answer = rec.get("answer")
                if isinstance(answer, (int, float)) and not isinstance(answer, bool):
                    answer = str(answer)
                if not isinstance(answer, str) or not answer.strip():
                    raise SampleError("expected a non-empty string", str(path), line, "answer")
                if task == "counting" and parse_number(answer) is None:
                    raise SampleError("counting answer is not a number", str(path), line, "answer")
                items.append(EvalItem(
                    id=f"{task}/{rec.get('id', k)}", image=images[0],
                    question=need(rec, "question", str, path, line), answer=answer.strip(),
                    category=task, depth=depth_for(self.depth_root, images[0], str(self.image_root)),
                    meta={"images": images, "task": task, "index": k,
                          **({"pair": k // 2, "pair_role": "pos" if k % 2 == 0 else "neg"}
                             if task in PAIR_TASKS else {})},
                ))
        return items

    def judge(self, item: EvalItem, answer: Optional[str]) -> Judgement:
        task = item.meta.get("task", item.category)
        details: dict[str, Any] = {"task": task}
        if "pair" in item.meta:
            details["pair"] = item.meta["pair"]
        if self.compat and answer is None:
            answer = item.answer  # SIFThinker's script: a missing answer becomes the gt
        if task == "counting":
            err = counting_error(answer, item.answer, capped=not self.compat)
            details["rel_error_pct"] = err
            return Judgement(err == 0.0, score=1.0 - min(err, 100.0) / 100.0, details=details)
        if answer is None:
            return Judgement(False, details=details)
        ok = item.answer in answer if self.compat else answers_match(answer, item.answer)
        return Judgement(ok, details=details)

    def official(self, scores: list[ItemScore]) -> dict[str, Any]:
        by_task: dict[str, list[ItemScore]] = {}
        for s in scores:
            by_task.setdefault(str(s.details.get("task", s.category)), []).append(s)
        out: dict[str, Optional[float]] = {}
        for task, items in sorted(by_task.items()):
            if task == "counting":
                errs = [float(s.details.get("rel_error_pct", 100.0)) for s in items]
                out[task] = 100.0 - sum(errs) / len(errs)
            elif task in PAIR_TASKS:
                pairs: dict[Any, list[bool]] = {}
                for s in items:
                    pairs.setdefault(s.details.get("pair"), []).append(s.correct)
                if task == "existence":
                    out[task] = 100.0 * sum(all(p) for p in pairs.values()) / len(pairs)
                else:
                    total = sum(sum(p) + (1 if all(p) else 0) for p in pairs.values())
                    out[task] = 100.0 * total / (3 * len(pairs))
            else:
                out[task] = 100.0 * sum(s.correct for s in items) / len(items)
        return {"official_pct": out}
