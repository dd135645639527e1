"""A model behind the fake OpenAI server for stage=eval runs: it recognises each benchmark item from the
request (question text + RGB data URL) and answers deterministically - a correct chain and answer for a third
of the items, a chain with a wrong answer for another third, garbage for the rest - so the eval numbers are
not trivially zero and any re-scoring or lost item would change them."""

from __future__ import annotations

import zlib
from pathlib import Path

from tests.conftest import compose


def eval_items(overrides: list[str], cache: Path) -> list:
    """The benchmark items a `stage=eval` run with these overrides sees (the synthetic eval split is generated
    into `cache` on first use, as the run itself would)."""
    from sif.eval.runner import benchmark_for

    cfg = compose(overrides + [f"paths.cache_dir={cache}"])
    return benchmark_for(cfg, cache).load()


def _request_key(body: dict) -> tuple[str, str]:
    parts = body["messages"][0]["content"]
    text = [p["text"] for p in parts if p["type"] == "text"][-1].lstrip("\n")
    return text, [p["image_url"]["url"] for p in parts if p["type"] == "image_url"][0]


def completion_for(item) -> str:
    from sif.chain import Chain, Focus, Step, render_chain
    from sif.depth import load_depth_map

    kind = zlib.crc32(item.id.encode()) % 3
    if kind == 2:
        return "I cannot tell."
    dmap = load_depth_map(item.depth)
    boxes = item.gt_boxes or [(0.0, 0.0, 1.0, 1.0)]
    steps = [Step([Focus((0.0, 0.0, 1.0, 1.0), round(dmap.box_mean((0.0, 0.0, 1.0, 1.0)), 3))], "The whole scene."),
             Step([Focus(tuple(b), round(dmap.box_mean(b), 3)) for b in boxes], "The objects asked about.")]
    answer = item.answer if kind == 0 else ("Z" if item.choices else "zebra")
    return render_chain(Chain(steps, answer))


class EvalModel:
    """`responder(body)` for FakeOpenAIServer; `ids` lists the item id of every request answered or not."""

    def __init__(self, items: list) -> None:
        from sif.llm.images import image_to_data_url
        from sif.prompt import user_text

        self.by_key = {(user_text(it.question, it.choices), image_to_data_url(it.image)): it for it in items}
        self.answers = {it.id: completion_for(it) for it in items}

    def item_id(self, body: dict) -> str:
        return self.by_key[_request_key(body)].id

    def __call__(self, body: dict) -> str:
        return self.answers[self.item_id(body)]
