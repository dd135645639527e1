"""Visual-CoT benchmark (deepcs233/Visual-CoT `viscot_benchmark/`): QA + detection.

Files: `benchmark/<subset>.json` (LLaVA conversation format: {dataset, question_id, image: [img,
"img###[x1,y1,x2,y2]"], conversations: [human question + box request, gpt box, human "<image>", gpt answer]})
and the paired `benchmark_det/<subset>.jsonl` ({img_path, expression, bbox (absolute xyxy pixels), height,
width, question_id}), joined on question_id. `path` is either one `benchmark/<subset>.json` (its det file is
`../benchmark_det/<subset>.jsonl`) or the `viscot_benchmark` folder (every subset found). The question drops
the "<image>" tag and the box-request suffix. Category = subset; image paths resolve under image_root, a
leading "cot/" being dropped when the file is not found with it.

Answer: `answers_match` on the `<answer>` (deterministic). The official answer score is an LLM judge
(GPT-3.5, 0..1): plug one in with `score_with_judge(item, completion, judge)`; the judge only replaces the
answer correctness / score, the box metrics stay.

Boxes (last area, union box): our per-axis number (`acc_at_iou`, `mean_iou`: IoU with the gt box divided by
(W, H)) and the official VisCoT number (`det_acc_official`, `REC/calculation.py`): the prediction is
converted to VisCoT's padded-square frame (`axis_to_viscot_square`) and multiplied by max(W, H), the gt is
shifted into the square by (max(W,H) - W) // 2 or (max(W,H) - H) // 2 pixels, Acc@IoU > 0.5. In compat mode
the prediction is taken as already square-normalized (SIFThinker wrote its raw output to VisCoT's scorer).
Official means over subsets (`tools/cot_*_get_result.py`) are reported as `*_subset_mean`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from sif.answers import answers_match
from sif.data.schema import SampleError
from sif.eval.benchmarks._files import depth_for, need, read_records, resolve_image
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore, Judgement, mean
from sif.registry import BENCHMARKS

SUFFIX = "Please provide the bounding box coordinate of the region that can help you answer the question better."


def square_gt(bbox: list[float], w: int, h: int) -> tuple[float, float, float, float]:
    """VisCoT's box_xyxy_expand2square, normalized by the square's side (integer-floor offset, as there)."""
    s = max(w, h)
    x1, y1, x2, y2 = bbox
    if w > h:
        y1, y2 = y1 + (w - h) // 2, y2 + (w - h) // 2
    elif h > w:
        x1, x2 = x1 + (h - w) // 2, x2 + (h - w) // 2
    return x1 / s, y1 / s, x2 / s, y2 / s


def _question(text: str) -> str:
    return text.replace("<image>\n", "").replace("<image>", "").replace(SUFFIX, "").strip()


@BENCHMARKS.register("viscot")
class VisCoTBench(Benchmark):
    name = "viscot"

    def _pairs(self) -> list[tuple[Path, Path]]:
        if self.path.is_dir():
            qa = sorted((self.path / "benchmark").glob("*.json"))
            pairs = [(q, self.path / "benchmark_det" / f"{q.stem}.jsonl") for q in qa]
        else:
            pairs = [(self.path, self.path.parent.parent / "benchmark_det" / f"{self.path.stem}.jsonl")]
        if not pairs:
            raise SampleError("no benchmark/*.json in the folder", str(self.path))
        for _, det in pairs:
            if not det.is_file():
                raise SampleError("paired benchmark_det file missing", str(det))
        return pairs

    def _image(self, rel: str, path: Path, line: int) -> str:
        try:
            return resolve_image(self.image_root, rel, path, line, "img_path")
        except SampleError:
            if rel.startswith("cot/"):
                return resolve_image(self.image_root, rel[len("cot/"):], path, line, "img_path")
            raise

    def load(self) -> list[EvalItem]:
        items = []
        for qa_path, det_path in self._pairs():
            dets: dict[str, tuple[int, dict]] = {}
            for line, rec in read_records(det_path):
                dets[str(need(rec, "question_id", (int, str), det_path, line))] = (line, rec)
            for line, rec in read_records(qa_path):
                qid = str(need(rec, "question_id", (int, str), qa_path, line))
                conv = need(rec, "conversations", list, qa_path, line)
                humans = [t.get("value") for t in conv if isinstance(t, dict) and t.get("from") == "human"]
                gpts = [t.get("value") for t in conv if isinstance(t, dict) and t.get("from") == "gpt"]
                if not humans or not gpts or not isinstance(humans[0], str) or not isinstance(gpts[-1], str):
                    raise SampleError("expected human/gpt turns", str(qa_path), line, "conversations")
                if qid not in dets:
                    raise SampleError(f"question_id {qid} not in {det_path.name}", str(qa_path), line,
                                      "question_id")
                dline, det = dets[qid]
                w, h = need(det, "width", int, det_path, dline), need(det, "height", int, det_path, dline)
                bbox = need(det, "bbox", list, det_path, dline)
                if (len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox) or w <= 0 or h <= 0
                        or not (bbox[2] > bbox[0] and bbox[3] > bbox[1])):
                    raise SampleError("expected [x1, y1, x2, y2] pixels with x2>x1, y2>y1", str(det_path),
                                      dline, "bbox")
                bbox = [float(v) for v in bbox]
                axis = (max(0.0, bbox[0] / w), max(0.0, bbox[1] / h), min(1.0, bbox[2] / w), min(1.0, bbox[3] / h))
                image = self._image(need(det, "img_path", str, det_path, dline), det_path, dline)
                subset = str(rec.get("dataset") or qa_path.stem)
                items.append(EvalItem(
                    id=f"{subset}/{qid}", image=image, question=_question(humans[0]), answer=gpts[-1].strip(),
                    category=subset, gt_boxes=[axis], image_size=(w, h),
                    depth=depth_for(self.depth_root, image, str(self.image_root)),
                    meta={"bbox_px": bbox, "expression": det.get("expression")},
                ))
        return items

    def judge(self, item: EvalItem, answer: Optional[str]) -> Judgement:
        return Judgement(answer is not None and answers_match(answer, item.answer))

    def score(self, item: EvalItem, completion: Any) -> ItemScore:
        out = super().score(item, completion)
        from sif.chain import parse_chain
        from sif.geometry import axis_to_viscot_square, iou, union_box

        boxes = parse_chain(completion if isinstance(completion, str) else "").last_boxes
        official = 0.0
        if boxes and item.image_size:
            w, h = item.image_size
            pred = union_box([tuple(b) for b in boxes])
            if not self.compat:
                pred = axis_to_viscot_square(pred, w, h)
            try:
                official = float(iou(tuple(pred), square_gt(item.meta["bbox_px"], w, h)))
            except (ValueError, TypeError, ZeroDivisionError):
                official = 0.0
        out.details["iou_official"] = official
        out.details["hit_official"] = official > 0.5
        return out

    def score_with_judge(self, item: EvalItem, completion: Any,
                         judge: Callable[[str, str, str], float]) -> ItemScore:
        """Score with an LLM judge `judge(question, gt_answer, pred_answer) -> 0..1` (e.g. `sif.llm.Judge`)
        as VisCoT's official answer score; a missing answer is 0 without calling the judge."""
        out = self.score(item, completion)
        if out.pred_answer is None:
            return out
        value = min(1.0, max(0.0, float(judge(item.question, item.answer, out.pred_answer))))
        out.score, out.correct = value, value >= 0.5
        out.details["judge_score"] = value
        return out

    def official(self, scores: list[ItemScore]) -> dict[str, Any]:
        subsets: dict[str, list[ItemScore]] = {}
        for s in scores:
            subsets.setdefault(s.category, []).append(s)
        det = {k: mean([1.0 if s.details.get("hit_official") else 0.0 for s in v]) for k, v in sorted(subsets.items())}
        ans = {k: mean([s.score for s in v]) for k, v in sorted(subsets.items())}
        return {
            "det_acc_official": mean([1.0 if s.details.get("hit_official") else 0.0 for s in scores]),
            "det_acc_official_per_subset": det,
            "det_acc_official_subset_mean": mean([v for v in det.values() if v is not None]),
            "answer_score_subset_mean": mean([v for v in ans.values() if v is not None]),
        }
