"""The text that trains the tiny model's byte-level BPE.

Why a task corpus at all: with a vocabulary of ~1k tokens, a tokenizer trained on generic English would spend
its merges on words the pipeline never emits and split every chain into single bytes, so tiny-model prompts
and completions would be several times longer than they need to be (slow CPU tests, truncated GRPO
completions). Training on the tags, the JSON of `<area>` boxes, the digits, the scene words and the one
instruction sentence gives short token sequences for exactly the strings the tests feed through the stack.

The corpus is generated here (seeded), not read from `sif.data`, so that building the tokenizer depends on
nothing but this module; callers may add real samples through `extra_corpus`.
"""

from __future__ import annotations

import json
import random
import re

from sif.prompt import CHOICE_LETTERS, INSTRUCTION, build_messages

TAGS = ["<think>", "</think>", "<area>", "</area>", "<text>", "</text>", "<answer>", "</answer>"]

COLORS = ["red", "green", "blue", "yellow", "purple", "cyan", "gray", "brown"]
SHAPES = ["sphere", "cube", "cylinder"]
SIZES = ["small", "large"]
MATERIALS = ["rubber", "metal", "matte", "shiny"]
RELATIONS = ["closer", "farther", "left", "right", "nearest", "farthest", "behind", "in front of", "above", "below"]
QUESTION_WORDS = ["How many", "Which", "What color", "What shape", "What size", "Is there", "Are there", "Where"]

ENGLISH = (
    "the a an of to in on at is are was were be been it its this that these those there here and or but not no "
    "yes with from by for as than then so because if when while where which what who whom whose how many much "
    "more most less least one two three four five six seven eight nine ten zero object objects thing things "
    "image picture scene region area box focus look see seen visible first next last final answer question "
    "option options letter depth near far distance camera background foreground top bottom middle center side "
    "same different other another both each every all some any only also still again now I we you they he she "
    "think thinking refine refined zoom zoomed whole entire part partly correct wrong count counted total number "
    "color colour shape size left right closer farther nearest farthest larger smaller bigger biggest smallest "
    "has have had do does did can could should would will may might must made make shows show showing appears"
)

# Short assistant-side sentences, in the style of the `<text>` analysis of a chain.
_FLOAT = re.compile(r"\d+\.\d+")

TEXT_TEMPLATES = [
    "The whole image shows {n} objects; the {size} {color} {shape} is in the {where}.",
    "The focused area contains a {size} {color} {shape} at depth {depth}, so it is {rel} than the others.",
    "This region is too wide; zoom in on the {color} {shape} on the {side}.",
    "The {color} {shape} has a lower depth value, so it is closer to the camera.",
    "The {shape} here is {color}, not {color2}; correct the focus to the {size} one.",
    "There are {n} {color} {shape}s in this area.",
]


def _box(rng: random.Random) -> list[float]:
    x1, y1 = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
    x2, y2 = rng.uniform(x1 + 0.05, 1.0), rng.uniform(y1 + 0.05, 1.0)
    return [round(v, 3) for v in (x1, y1, x2, y2)]


def _area(rng: random.Random, whole: bool = False) -> str:
    """An `<area>` payload exactly as chains render it: compact JSON, 3-decimal numbers."""
    n = 1 if whole else rng.choice([1, 1, 2])
    objs = []
    for _ in range(n):
        box = [0.0, 0.0, 1.0, 1.0] if whole else _box(rng)
        objs.append({"bbox_2d": box, "depth": round(rng.random(), 3)})
    # floats with exactly 3 decimals, as the chain grammar renders them (0.5 -> 0.500)
    return _FLOAT.sub(lambda m: f"{float(m.group(0)):.3f}", json.dumps(objs, separators=(",", ":")))


def _sentence(rng: random.Random) -> str:
    template = rng.choice(TEXT_TEMPLATES)
    return template.format(
        n=rng.randint(1, 9), size=rng.choice(SIZES), color=rng.choice(COLORS), color2=rng.choice(COLORS),
        shape=rng.choice(SHAPES), where=rng.choice(["left", "right", "middle", "background", "foreground"]),
        depth=f"{rng.random():.3f}", rel=rng.choice(["closer", "farther"]), side=rng.choice(["left", "right"]),
    )


def _question(rng: random.Random) -> tuple[str, list[str] | None, str]:
    size, color, shape = rng.choice(SIZES), rng.choice(COLORS), rng.choice(SHAPES)
    kind = rng.randrange(4)
    if kind == 0:
        return f"How many {color} {shape}s are there?", None, str(rng.randint(0, 9))
    if kind == 1:
        other = f"{rng.choice(SIZES)} {rng.choice(COLORS)} {rng.choice(SHAPES)}"
        relation = rng.choice(["closer to", "farther from"])
        q = f"Which object is {relation} the camera, the {size} {color} {shape} or the {other}?"
        choices = [f"the {size} {color} {shape}", f"the {other}"]
        return q, choices, f"({rng.choice('AB')})"
    if kind == 2:
        q = f"What color is the {rng.choice(['nearest', 'farthest', 'leftmost', 'rightmost'])} {shape}?"
        choices = rng.sample(COLORS, 5)
        return q, choices, f"({rng.choice(CHOICE_LETTERS[:5])})"
    side = rng.choice(["left", "right"])
    q = f"Is the {size} {color} {shape} {side} of the {rng.choice(COLORS)} {rng.choice(SHAPES)}?"
    return q, ["yes", "no"], rng.choice(["(A)", "(B)"])


def _chain(rng: random.Random, answer: str) -> str:
    steps = [f"<area>{_area(rng, whole=True)}</area>\n<text>{_sentence(rng)}</text>"]
    for _ in range(rng.randint(1, 3)):
        steps.append(f"<area>{_area(rng)}</area>\n<text>{_sentence(rng)}</text>")
    return "<think>\n" + "\n".join(steps) + "\n</think>\n<answer>\n" + answer + "\n</answer>"


def _message_text(messages: list[dict]) -> str:
    parts = []
    for message in messages:
        for item in message["content"]:
            if item.get("type") == "text":
                parts.append(item["text"])
    return "".join(parts)


def tokenizer_corpus(samples: int = 300, seed: int = 0) -> list[str]:
    """Task vocabulary for the tiny BPE: tags, chain JSON and digits, scene and question words, the prompt's
    fixed strings and common English, plus `samples` seeded synthetic prompt + chain pairs."""
    rng = random.Random(seed)
    corpus: list[str] = [" ".join(TAGS), INSTRUCTION, "Original image:", "Depth image:", ENGLISH]
    corpus += [" ".join(COLORS), " ".join(SHAPES), " ".join(SIZES), " ".join(MATERIALS), " ".join(RELATIONS)]
    corpus += [" ".join(QUESTION_WORDS), " ".join(f"({c})" for c in CHOICE_LETTERS[:5])]
    corpus.append('{"bbox_2d":[0.125,0.500,0.875,1.000],"depth":0.437}')
    corpus.append(" ".join(str(i) for i in range(1000)))
    corpus.append(" ".join(f"0.{i:03d}" for i in range(0, 1000, 7)))
    for _ in range(samples):
        question, choices, answer = _question(rng)
        messages = build_messages(question, choices, with_depth=True, answer=_chain(rng, answer))
        corpus.append(_message_text(messages))
    return corpus
