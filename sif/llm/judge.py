"""The paper's LLM judge (spec §3.6(2)): scores a model's answer against the standard answer, 0..1.

Differences from the original, all deliberate (spec §7 bugs 16, 21): the question keeps its first
character; a missing prediction scores 0 without a call (the original sent the string "None"); calls are
concurrent, bounded, retried and budgeted (`LLMClient`); scores are clamped to [0, 1]; the image goes with
its real MIME type; a judge that cannot answer gives `cfg.fallback_score`, counted by reason and logged.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sif.llm.client import LLMClient
from sif.llm.errors import CallStats, LLMError
from sif.llm.images import image_to_data_url

log = logging.getLogger(__name__)

JUDGE_SYSTEM_PROMPT = (
    "You are an answer proofreader. You are given a question about an image, the standard answer and a "
    "model's answer. Using the question and the image, check the model's answer against the standard answer "
    "and score it. The full score is 1 and the minimum score is 0: the closer the model's answer is to the "
    "standard answer, the higher the score. Output ONLY a JSON object of the form {\"score\": 0.8}, with no "
    "other text."
)

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)
_OBJECT = re.compile(r"\{[^{}]*\}")
_MAX_REPLY_CHARS = 100_000
_MAX_NUMBER_CHARS = 64


def _as_score(value: Any) -> float | None:
    """A finite number (or a short numeric string) clamped to [0, 1]; anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_NUMBER_CHARS:
            return None
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, int):  # may be too large for a float: clamp first
        value = min(1, max(0, value))
    if not isinstance(value, (int, float)):
        return None
    x = float(value)
    if not math.isfinite(x):
        return None
    return min(1.0, max(0.0, x)) + 0.0  # + 0.0 turns -0.0 into 0.0


def _from_json(text: str) -> float | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict):
        return _as_score(data["score"]) if "score" in data else None
    if isinstance(data, (int, float)):
        return _as_score(data)
    return None


def parse_score(reply: str | None) -> float | None:
    """The score in a judge reply: JSON `{"score": x}` or a bare number, optionally in a ```json fence or
    as the one JSON object inside surrounding text; clamped to [0, 1]. NaN, infinities, booleans and
    anything else give None. Never evaluates the text; bounded work on any input."""
    if not isinstance(reply, str):
        return None
    text = reply[:_MAX_REPLY_CHARS].strip()
    if not text:
        return None
    score = _from_json(text)
    if score is not None:
        return score
    fenced = _FENCE.search(text)
    if fenced:
        score = _from_json(fenced.group(1).strip())
        if score is not None:
            return score
    objects = _OBJECT.findall(text)
    if len(objects) == 1:  # several candidate objects are ambiguous: refuse rather than guess
        return _from_json(objects[0])
    return None


def _parseable(reply: str) -> bool:
    return parse_score(reply) is not None


@dataclass
class JudgeItem:
    question: str
    reference: str
    prediction: str | None
    image: str | Path | None = None  # a path to the RGB image, or a ready data URL


def judge_messages(item: JudgeItem, image_url: str | None) -> list[dict]:
    """The judge conversation: the system prompt, then the question/answers text and the image."""
    text = f"Question: {item.question}\nStandard answer: {item.reference}\nModel's answer: {item.prediction}"
    content: list[dict] = [{"type": "text", "text": text}]
    if image_url is not None:
        content.append({"type": "image_url", "image_url": {"url": image_url}})
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": content}]


class Judge:
    """Scores batches of answers with an LLM. `cfg` is a `JudgeConfig` (LLM client fields + fallback_score).

    `image_max_side` shrinks images before sending (None = send as stored)."""

    def __init__(self, cfg: Any, cache_dir: str | Path | None = None, image_max_side: int | None = None) -> None:
        self.cfg = cfg
        self.fallback_score = float(cfg.fallback_score)
        self.image_max_side = image_max_side
        self.client = LLMClient(cfg, cache_dir=cache_dir)

    @property
    def stats(self) -> CallStats:
        return self.client.stats

    def _image_url(self, image: str | Path, memo: dict[str, str]) -> str:
        image = str(image)
        if image.startswith("data:"):
            return image
        if image not in memo:  # a GRPO group shares one image: encode it once per batch
            memo[image] = image_to_data_url(image, max_side=self.image_max_side)
        return memo[image]

    def score_many(self, items: list[JudgeItem]) -> list[float]:
        """One score per item, in order; the batch runs concurrently (bounded by cfg.max_concurrency)."""
        scores: list[float | None] = [None] * len(items)
        reasons: dict[str, int] = {}

        def fall_back(i: int, reason: str) -> None:
            scores[i] = self.fallback_score
            self.stats.fallback(reason)
            reasons[reason] = reasons.get(reason, 0) + 1

        batch: list[list[dict]] = []
        index: list[int] = []
        memo: dict[str, str] = {}
        for i, item in enumerate(items):
            if item.prediction is None:
                scores[i] = 0.0
                self.stats.add("skipped")
                continue
            try:
                url = self._image_url(item.image, memo) if item.image else None
            except (OSError, ValueError) as exc:  # missing/corrupt image: never judge blind silently
                log.debug("judge image %s unreadable: %s", item.image, type(exc).__name__)
                fall_back(i, "image")
                continue
            batch.append(judge_messages(item, url))
            index.append(i)

        replies = self.client.complete_many(batch, accept=_parseable)  # garbage is retried, never cached
        for i, reply in zip(index, replies):
            score = None if isinstance(reply, LLMError) else parse_score(reply)
            if score is not None:
                scores[i] = score
            elif isinstance(reply, LLMError) and reply.reason != "rejected":
                fall_back(i, reply.reason)
            else:
                fall_back(i, "unparseable")
        if reasons:
            log.warning("judge: %d of %d items got the fallback score %g (%s)", sum(reasons.values()),
                        len(items), self.fallback_score, ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())))
        return [float(s) for s in scores]  # type: ignore[arg-type]
