"""HF `datasets.Dataset`s of checked samples whose pictures are loaded lazily, and the seeded eval split.

The stored columns are plain strings (paths, question, chain, JSON-encoded lists); a `set_transform` turns
each row, when the trainer's dataloader asks for it, into TRL's multimodal format:
`prompt` (the user turn of `sif.prompt.build_messages`), `completion` (the assistant turn with the chain; SFT
only), `images` ([rgb] or [rgb, depth picture], PIL) plus any pass-through columns (GRPO reward inputs).
Because the transform replaces the columns, trainers must run with `remove_unused_columns=False`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from sif.prompt import build_messages
from sif.views import DEFAULT_MAX_PIXELS, load_pictures
from sif.training.samples import CheckedSample
from sif.views import blanked

if TYPE_CHECKING:
    import datasets

JSON_COLUMNS = ("choices", "gt_boxes")


def prompt_messages(question: str, choices: Optional[Sequence[str]], with_depth: bool, style: str = "sif",
                    phase: str = "sft") -> list[dict]:
    """The user turn (THE prompt: sif.prompt.build_messages; `style="paper"`: the original's for `phase`)."""
    return build_messages(question, list(choices) if choices else None, with_depth=with_depth, style=style,
                          phase=phase)


def completion_messages(chain: str) -> list[dict]:
    """The assistant turn that SFT learns: the whole chain (<think>...</think><answer>...</answer>)."""
    return [{"role": "assistant", "content": [{"type": "text", "text": chain}]}]


def sft_example(item: CheckedSample, with_depth: bool, style: str = "sif") -> tuple[list[dict], list[dict]]:
    """(prompt, completion) messages of one sample, as the transform builds them (for token counting)."""
    s = item.sample
    return prompt_messages(s.question, s.choices, with_depth, style, "sft"), completion_messages(s.chain or "")


def split_train_eval(items: Sequence[CheckedSample], eval_fraction: float,
                     seed: int) -> tuple[list[CheckedSample], list[CheckedSample]]:
    """A seeded random held-out share (at least one sample when the fraction is > 0 and there are >= 2
    samples; never the whole set). Both parts keep the file's order."""
    n = len(items)
    if eval_fraction <= 0 or n < 2:
        return list(items), []
    n_eval = min(n - 1, max(1, round(n * eval_fraction)))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def rows(items: Sequence[CheckedSample]) -> dict[str, list]:
    """Column-wise plain data of the samples (absolute paths; JSON for lists)."""
    out: dict[str, list] = {k: [] for k in ("id", "question", "choices", "chain", "answer", "image", "depth",
                                           "gt_boxes", "category", "source", "num_tokens")}
    for item in items:
        s = item.sample
        out["id"].append(s.id)
        out["question"].append(s.question)
        out["choices"].append(json.dumps(s.choices))
        out["chain"].append(s.chain or "")
        out["answer"].append(s.answer)
        out["image"].append(str(item.image))
        out["depth"].append(str(item.depth) if item.depth else "")
        out["gt_boxes"].append(json.dumps([list(b) for b in s.gt_boxes]))
        out["category"].append(s.category or "")
        out["source"].append(s.source)
        out["num_tokens"].append(int(item.num_tokens) if item.num_tokens is not None else -1)
    return out


@dataclass
class ExampleTransform:
    """Row batch -> TRL examples (a picklable callable, so dataloader workers can run it)."""

    with_depth: bool = True
    completion: bool = True
    passthrough: tuple[str, ...] = ()
    max_pixels: int = DEFAULT_MAX_PIXELS
    blank: bool = False  # the blind control (sif.views): every picture mid-grey of its size
    style: str = "sif"  # prompt wording (sif.prompt)
    phase: str = "sft"  # sft | rl

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        n = len(batch["id"])
        out: dict[str, list[Any]] = {"prompt": [], "images": []}
        if self.completion:
            out["completion"] = []
        for i in range(n):
            choices = json.loads(batch["choices"][i])
            out["prompt"].append(prompt_messages(batch["question"][i], choices, self.with_depth, self.style,
                                                 self.phase))
            if self.completion:
                out["completion"].append(completion_messages(batch["chain"][i]))
            pictures = load_pictures(batch["image"][i], batch["depth"][i] or None, self.with_depth, self.max_pixels)
            out["images"].append(blanked(pictures) if self.blank else pictures)
        for col in self.passthrough:
            values = batch[col]
            out[col] = [json.loads(v) for v in values] if col in JSON_COLUMNS else list(values)
        return out


def build_dataset(items: Sequence[CheckedSample], transform: ExampleTransform) -> "datasets.Dataset":
    import datasets

    ds = datasets.Dataset.from_dict(rows(items))
    ds.set_transform(transform)
    return ds
