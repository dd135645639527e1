"""Forward inference by a teacher LLM over any OpenAI-compatible API (spec 1.5), with the checks the
original lacked (spec 7, bug 6): every reply is parsed with sif.chain and must reproduce the given boxes
and depths (within `tolerance`) and the given answer; otherwise it is re-asked with the reason, and
finally rejected with a counted reason."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from sif.chain import parse_chain, render_chain
from sif.data.records import Rejection
from sif.generate.plan import ChainRequest
from sif.registry import TEACHERS

SYSTEM_PROMPT = (
    "Help me construct data in a think-answer format. Start from the original image and progressively "
    "focus on the regions of interest, analysing each one. Throughout, state the focused regions as "
    "normalized bounding boxes with normalized depth in JSON (3 decimals) inside <area> </area> tags, and "
    "your description and reasoning about each region inside <text> </text> tags, alternating "
    "<area>...</area><text>...</text>, all inside <think> </think>. Put the final result inside "
    "<answer> </answer>. Output only the constructed data wrapped in triple backticks.\n"
    "Example:\n```\n<think>\n"
    '<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n'
    "<text>The whole image shows a street scene; I look for the sign.</text>\n"
    '<area>[{"bbox_2d":[0.100,0.200,0.300,0.400],"depth":0.320}]</area>\n'
    "<text>This region is a shop window, not the sign; I move on.</text>\n"
    '<area>[{"bbox_2d":[0.550,0.100,0.800,0.350],"depth":0.610}]</area>\n'
    "<text>Here is the sign; it reads STOP.</text>\n</think>\n<answer>\nSTOP\n</answer>\n```"
)
FENCE = re.compile(r"```(?:[a-zA-Z]*\n)?(.*?)```", re.DOTALL)


def area_json(areas) -> str:
    return "[" + ",".join(
        '{"bbox_2d":[%s],"depth":%.3f}' % (",".join(f"{v:.3f}" for v in f.bbox), f.depth) for f in areas
    ) + "]"


def draw_boxes(image_path: str, boxes, max_side: int = 768) -> Image.Image:
    with Image.open(image_path) as im:
        img = im.convert("RGB")
    img.thumbnail((max_side, max_side))
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for x1, y1, x2, y2 in boxes:
        draw.rectangle([x1 * w, y1 * h, x2 * w, y2 * h], outline=(0, 255, 0), width=2)
    return img


def build_messages(req: ChainRequest) -> list[dict]:
    from sif.llm.images import image_to_data_url

    content: list[dict] = []
    for step in req.steps:
        content.append({"type": "text", "text": (
            "Focus on the region with the normalized bounding box with normalized depth of "
            f"{area_json(step.areas)}, as shown by the green box in the image below.")})
        content.append({"type": "image_url", "image_url": {
            "url": image_to_data_url(draw_boxes(req.image, [f.bbox for f in step.areas]))}})
    question = req.question if not req.choices else req.question + "\nOptions: " + "; ".join(
        f"({chr(65 + i)}) {c}" for i, c in enumerate(req.choices))
    content.append({"type": "text", "text": (
        f"The question is: {question}\nThe final ground-truth answer is: {req.answer}"
        f" ({req.answer_text}).\nUse exactly these {len(req.steps)} areas, in this order, with these "
        "boxes and depths, one <area> per region, and put exactly the ground-truth answer in <answer>.")})
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol + 1e-9


def check_reply(reply: str, req: ChainRequest, tolerance: float) -> tuple[str | None, str]:
    """(canonical chain text, "") when the reply is acceptable, else (None, reason)."""
    from sif.answers import answers_match

    match = FENCE.search(reply)
    body = (match.group(1) if match else reply).strip("\n ")
    parsed = parse_chain(body)
    if not parsed.valid:
        return None, "grammar"
    if len(parsed.areas) != len(req.steps):
        return None, "boxes_mismatch"
    for got, step in zip(parsed.areas, req.steps):
        if len(got) != len(step.areas):
            return None, "boxes_mismatch"
        for g, want in zip(got, step.areas):
            if not all(_close(a, b, tolerance) for a, b in zip(g.bbox, want.bbox)):
                return None, "boxes_mismatch"
            if not _close(g.depth, want.depth, tolerance):
                return None, "depth_mismatch"
    if not answers_match(parsed.answer, req.answer, req.choices) and not answers_match(
            parsed.answer, req.answer_text):
        return None, "answer_mismatch"
    chain = parsed.to_chain()
    return (render_chain(chain) if chain is not None else None), ("" if chain is not None else "grammar")


@dataclass
class TeacherStats:
    attempts: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@TEACHERS.register("openai")
class OpenAITeacher:
    def __init__(self, cfg, cache_dir=None) -> None:
        from sif.llm.client import LLMClient

        self.cfg = cfg
        self.client = LLMClient(cfg, cache_dir=cache_dir)
        self.teacher_stats = TeacherStats()

    @property
    def stats(self) -> dict:
        return {"client": self.client.stats.to_dict(), "attempts": self.teacher_stats.attempts,
                "accepted": self.teacher_stats.accepted, "rejected": dict(self.teacher_stats.rejected)}

    def write(self, requests: list[ChainRequest]) -> list[str | Rejection]:
        results: list[str | Rejection | None] = [None] * len(requests)
        conversations = {i: build_messages(r) for i, r in enumerate(requests)}
        last_reason: dict[int, str] = {}
        for _attempt in range(max(1, int(self.cfg.max_attempts))):
            pending = [i for i in range(len(requests)) if results[i] is None]
            if not pending:
                break
            replies = self.client.complete_many([conversations[i] for i in pending])
            for i, reply in zip(pending, replies):
                self.teacher_stats.attempts += 1
                if not isinstance(reply, str):
                    last_reason[i] = "api_error"
                    continue
                text, reason = check_reply(reply, requests[i], float(self.cfg.tolerance))
                if text is not None:
                    results[i] = text
                    self.teacher_stats.accepted += 1
                    continue
                last_reason[i] = reason
                conversations[i] = conversations[i] + [
                    {"role": "assistant", "content": reply[:4000]},
                    {"role": "user", "content": f"Rejected ({reason}): {json.dumps(reason)}. Reply again "
                     "with exactly the given areas, boxes, depths and answer, in the required format."},
                ]
        out: list[str | Rejection] = []
        for i, res in enumerate(results):
            if res is None:
                reason = last_reason.get(i, "api_error")
                self.teacher_stats.rejected[reason] = self.teacher_stats.rejected.get(reason, 0) + 1
                out.append(Rejection(requests[i].id, reason))
            else:
                out.append(res)
        return out
