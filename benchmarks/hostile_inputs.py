"""How fast untrusted text is refused, and what the rewards cost per GRPO batch (issue 15: timing is measured
here, never asserted in tests; a busy 2-core CI machine made wall-clock bounds flaky).

The tests keep the same hostile inputs and check that each is handled (refused, finite, no internal error);
this script times them: the answer matchers, the chain parser, the box geometry on 20,000 boxes, the judge's
score parser, and every reward over one batch of 64 completions (cold: first batch, 16 depth maps loaded;
warm: best of 3). Median and max of `--repeats` runs per case.

    python benchmarks/hostile_inputs.py --out benchmarks/results/hostile_inputs.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ANSWERS = ["answer A " * 12_000, "(A)" * 30_000, " " * 100_000 + "x", "A" + " " * 100_000 + "b", "1" * 100_000,
           "B." * 50_000, "\u00a0" * 50_000 + "(B", "option b " * 10_000]
CHAINS = ["<think>" * 30_000, "<area>" * 20_000, "<" * 99_999, "<think><area>" + "a" * 99_000,
          "<think><area>" + "[" * 90_000 + "</area><text>x</text></think><answer>a</answer>",
          "<think>" + "<area></area><text></text>" * 4000 + "</think>",
          "<think><area>" + "</area> x <text>t</text>" * 4000, "<answer>" * 12_000 + "</answer>",
          "<think>" + '<area>["' + "\\" * 99_000,
          "<think>" + '<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area><text>t</text>' * 5000
          + "</think><answer>A</answer>"]
JUDGE = ["```" * 30000, "{" * 100000, "{}" * 50000, "```json" + "{" * 90000, "[" * 100000]


def timed(fn, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return {"median_ms": round(statistics.median(runs) * 1e3, 3), "max_ms": round(max(runs) * 1e3, 3)}


def answers(repeats: int) -> dict:
    from sif.answers import answers_match, extract_choice_letter, parse_number

    colours = ["red", "green", "blue", "yellow"]

    def one(text):
        return lambda: (extract_choice_letter(text, colours), parse_number(text), answers_match(text, "left"),
                        answers_match(text, "B", colours))
    return {f"{text[:12]!r}x{len(text)}": timed(one(text), repeats) for text in ANSWERS}


def chains(repeats: int) -> dict:
    from sif.chain import parse_chain

    return {f"{text[:14]!r}x{len(text)}": timed(lambda t=text: (parse_chain(t), parse_chain(t, True)), repeats)
            for text in CHAINS}


def geometry(repeats: int) -> dict:
    from sif.geometry import hierarchical_iou, pair_iou, union_area, union_iou

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 0.5, size=(20_000, 2))
    many = np.concatenate([xy, xy + 0.01 + rng.uniform(0, 0.5, size=(20_000, 2))], axis=1).tolist()
    junk = [None, "x", [float("nan")] * 4, [float("inf"), 0, 1, 1], [1, 2], {"a": 1}, [True, False, True, True]] * 1000
    pair_iou([(0, 0, 1, 1)], [(0, 0, 1, 1)])  # imports scipy outside the timed part

    def run():
        return (union_area(many), union_iou(many, many[::-1]), pair_iou(many, many), pair_iou(many, many, paper_compat=True),
                hierarchical_iou(many + junk, junk + many))
    return {"20k boxes + 7k junk": timed(run, repeats)}


def judge(repeats: int) -> dict:
    from sif.llm.judge import parse_score

    return {f"{text[:8]!r}x{len(text)}": timed(lambda t=text: parse_score(t), repeats) for text in JUDGE}


def reward_batch(tmp: Path) -> dict:
    """All rewards on 64 completions (16 samples x 4) with 320x240 depth maps, both modes."""
    import scipy.optimize  # noqa: F401 - one-time imports, not a per-batch cost

    import sif.depth  # noqa: F401
    from sif.rewards import build_reward_funcs

    names = ["format", "answer", "answer_progress", "box_iou", "box_iou_progress", "depth_consistency"]
    rng = random.Random(0)
    texts, cols = [], {"id": [], "answer": [], "gt_boxes": [], "depth": [], "question": [], "image": []}
    for s in range(16):
        path = tmp / f"d{s}.npy"
        np.save(path, np.random.default_rng(s).random((240, 320)).astype(np.float16), allow_pickle=False)
        for _ in range(4):
            areas = ['[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]']
            for _ in range(4):
                x, y = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
                areas.append(f'[{{"bbox_2d":[{x:.3f},{y:.3f},{x + 0.3:.3f},{y + 0.3:.3f}],"depth":0.500}},'
                             '{"bbox_2d":[0.600,0.600,0.800,0.800],"depth":0.450}]')
            body = "".join(f"<area>{a}</area>\n<text>step</text>\n" for a in areas)
            texts.append([{"role": "assistant", "content": f"<think>\n{body}</think>\n<answer>\nyes\n</answer>"}])
            for k, v in (("id", f"s{s}"), ("answer", "yes"), ("gt_boxes", [[0.6, 0.6, 0.8, 0.8], [0.1, 0.2, 0.3, 0.4]]),
                         ("depth", str(path)), ("question", "Is it red?"), ("image", "img.png")):
                cols[k].append(v)

    def suite(compat: bool):
        fs, _ = build_reward_funcs({"weights": {n: 1.0 for n in names}, "paper_compat": compat, "answer_scorer": "rule"})
        return fs

    def run_once(fs) -> float:
        t = time.perf_counter()
        for fn in fs:
            fn(prompts=["p"] * len(texts), completions=texts, completion_ids=None, trainer_state=None, **cols)
        return time.perf_counter() - t

    out = {}
    for compat in (False, True):
        cold = run_once(suite(compat))
        warm = min(run_once(suite(compat)) for _ in range(3))
        out["paper" if compat else "fixed"] = {"cold_ms": round(cold * 1e3, 2), "warm_ms": round(warm * 1e3, 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {"command": " ".join(sys.argv), "machine": f"{platform.machine()} {platform.processor()}".strip(),
                  "answers": answers(args.repeats), "chain_parser": chains(args.repeats),
                  "geometry": geometry(max(1, args.repeats // 2)), "judge_parse": judge(args.repeats),
                  "reward_batch_64": reward_batch(Path(tmp))}
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
