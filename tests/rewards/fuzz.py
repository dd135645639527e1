"""Shared pieces of the property tests: the reward environment, the range check and a chain mutator."""

from __future__ import annotations

import math
import random
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.rewards.helpers import RANGES, FakeJudge, chain, funcs, make_depth

PROPS = settings(max_examples=2000, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.function_scoped_fixture])
G = [0.6, 0.6, 0.8, 0.8]
BAD_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e308", "1e309", "-1e309", "-5", "-0.0", "7",
               "123456789012345678901234567890", "0.1234567", "1e-05", "true", "null", '"0.5"', "[]", "{}",
               "1" * 400, "0." + "9" * 300, "1e99999"]
TAGS = ["<think>", "</think>", "<area>", "</area>", "<text>", "</text>", "<answer>", "</answer>"]


def make_env(tmp_dir: Path) -> dict:
    """Every reward in both modes (rule scorer), plus answer/answer_progress with a fake judge."""
    depth = make_depth(tmp_dir / "d.npy")
    judge = FakeJudge(default=0.5)
    modes = {}
    for compat in (False, True):
        judged = funcs(weights={"answer": 1.0, "answer_progress": 1.0}, judge=judge, paper_compat=compat)
        modes[compat] = {**funcs(paper_compat=compat), **{f"judge_{k}": v for k, v in judged.items()}}
    return {"depth": depth, "modes": modes, "judge": judge}


def check_all(env: dict, completions: list, judge: bool = False, **cols) -> None:
    """Call the rule rewards (or, with judge=True, the judged ones) in both modes; check every value."""
    n = len(completions)
    kwargs = {"id": ["s"] * n, "answer": ["yes"] * n, "gt_boxes": [[G]] * n, "depth": [env["depth"]] * n,
              "question": ["Is it?"] * n, "image": ["img.png"] * n, "choices": [None] * n, "trainer_state": None}
    kwargs.update({k: [v] * n for k, v in cols.items()})
    for fs in env["modes"].values():
        for name, fn in fs.items():
            if judge != name.startswith("judge_"):
                continue
            lo, hi = RANGES[name.removeprefix("judge_")]
            out = fn(prompts=["p"] * n, completions=completions, completion_ids=None, **kwargs)
            assert isinstance(out, list) and len(out) == n, name
            for v in out:
                assert isinstance(v, float) and math.isfinite(v) and lo <= v <= hi, (name, v)


@st.composite
def mutated_chain(draw) -> str:
    """A valid-looking chain (boxes/depths partly out of range) after up to 6 random mutations.

    The structure comes from a drawn seed (cheap to generate, still reproducible); the inserted text
    comes from hypothesis' own text strategy."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    inserts = draw(st.lists(st.text(max_size=20), max_size=2))

    proper = rng.random() < 0.5  # half the chains start valid: sorted in-range boxes

    def unit() -> float:
        return rng.choice([rng.uniform(-0.5, 1.5), rng.uniform(0, 1), 0.0, 1.0])

    def box() -> tuple:
        if proper:
            x1, y1 = rng.uniform(0, 0.8), rng.uniform(0, 0.8)
            return (x1, y1, x1 + rng.uniform(0.01, 1 - x1), y1 + rng.uniform(0.01, 1 - y1))
        return (unit(), unit(), unit(), unit())

    areas = [[(box(), rng.uniform(0, 1) if proper else unit()) for _ in range(rng.randint(1 if proper else 0, 4))]
             for _ in range(rng.randint(1, 6))]
    text = chain(areas, answer=rng.choice(["yes", "no", "", "3", "(B)", "<area>"]))
    for _ in range(rng.randint(0, 6)):
        op = rng.randint(0, 4)
        pos = rng.randint(0, len(text))
        if op == 0:  # overwrite a stretch with a nasty number-like token
            text = text[:pos] + rng.choice(BAD_NUMBERS) + text[pos + rng.randint(1, 6):]
        elif op == 1:  # insert drawn text or a tag
            piece = inserts.pop() if inserts else rng.choice(TAGS)
            text = text[:pos] + piece + text[pos:]
        elif op == 2:  # delete a slice
            text = text[:pos] + text[pos + rng.randint(1, 30):]
        elif op == 3:  # repeat a slice
            text = text[:pos] + text[pos:pos + rng.randint(1, 80)] * rng.randint(1, 5) + text[pos:]
        else:  # truncate
            text = text[:pos]
    return text
