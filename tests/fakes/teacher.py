"""A stand-in for a teacher LLM behind the fake OpenAI server: it writes a correct chain from the areas
and answer stated in the request (as a good teacher would), or deliberately broken text on demand."""

from __future__ import annotations

import json
import re

AREA = re.compile(r"normalized bounding box with normalized depth of (\[.*?\]), as shown")
ANSWER = re.compile(r"The final ground-truth answer is: (.*?) \(")


def _user_text(body: dict) -> str:
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(parts)


def teacher_reply(body: dict) -> str:
    text = _user_text(body)
    areas = [json.loads(a) for a in AREA.findall(text)]
    answer = ANSWER.findall(text)[-1] if ANSWER.findall(text) else "unknown"
    steps = []
    for i, area in enumerate(areas):
        steps.append("<area>" + json.dumps(area, separators=(",", ":")) + "</area>")
        steps.append(f"<text>Step {i + 1}: I look at this region.</text>")
    return "```\n<think>\n" + "\n".join(steps) + f"\n</think>\n<answer>\n{answer}\n</answer>\n```"


def broken_reply(body: dict) -> str:
    return "Sure! Here is some text without any chain at all."
