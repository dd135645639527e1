"""Reward cost: one GRPO batch of 64 completions (16 samples x 4), 320x240 depth maps, ~5-area chains."""

from __future__ import annotations

import random
import time

import numpy as np

from tests.rewards.helpers import NAMES, chain, funcs

BATCH, GROUP = 64, 4


def batch(tmp_path):
    rng = random.Random(0)
    texts, cols = [], {"id": [], "answer": [], "gt_boxes": [], "depth": [], "question": [], "image": []}
    for s in range(BATCH // GROUP):
        path = tmp_path / f"d{s}.npy"
        np.save(path, np.random.default_rng(s).random((240, 320)).astype(np.float16), allow_pickle=False)
        gt = [[0.6, 0.6, 0.8, 0.8], [0.1, 0.2, 0.3, 0.4]]
        for g in range(GROUP):
            areas = [[((0.0, 0.0, 1.0, 1.0), 0.5)]]
            for _ in range(4):
                x, y = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
                areas.append([((x, y, x + 0.3, y + 0.3), 0.5), ((0.6, 0.6, 0.8, 0.8), 0.45)])
            texts.append([{"role": "assistant", "content": chain(areas, answer=rng.choice(["yes", "no"]))}])
            for k, v in (("id", f"s{s}"), ("answer", "yes"), ("gt_boxes", gt), ("depth", str(path)),
                         ("question", "Is it red?"), ("image", "img.png")):
                cols[k].append(v)
    return texts, cols


def run_once(fs, texts, cols) -> tuple[float, float]:
    """(wall, cpu) seconds for all rewards on the batch; CPU time is what a busy test machine distorts least."""
    t0, c0 = time.perf_counter(), time.process_time()
    for fn in fs.values():
        out = fn(prompts=["p"] * len(texts), completions=texts, completion_ids=None, trainer_state=None, **cols)
        assert len(out) == len(texts)
    return time.perf_counter() - t0, time.process_time() - c0


def test_batch_of_64_is_fast(tmp_path):
    import scipy.optimize  # noqa: F401 - one-time imports (about 1 s), not a per-batch cost
    import sif.depth  # noqa: F401
    texts, cols = batch(tmp_path)
    for compat in (False, True):
        fs = funcs(paper_compat=compat)
        cold = run_once(fs, texts, cols)  # first batch: parses and loads the 16 depth maps
        # a fresh suite each time (nothing parsed yet), depth maps already in sif.depth's LRU cache
        warm = min(run_once(funcs(paper_compat=compat), texts, cols) for _ in range(3))
        print(f"\n{'paper' if compat else 'fixed'}: {len(NAMES)} rewards x {BATCH} completions: "
              f"cold {cold[0] * 1e3:.1f} ms wall / {cold[1] * 1e3:.1f} ms cpu, "
              f"warm {warm[0] * 1e3:.1f} ms wall / {warm[1] * 1e3:.1f} ms cpu")
        assert cold[0] < 0.5 and warm[0] < 0.5
