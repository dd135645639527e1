"""`launch.py` with test-only rewards registered first, as a script that torchrun / accelerate launch start on
every rank: `python -m torch.distributed.run --nproc_per_node=2 tests/distributed/launch_with_toy.py ARGS`.

- `toy_symbol_share` (tests.grpo.toy_rewards): gives a random-init tiny model's groups reward variance.
- `rank_probe` (always 0, so give it weight 0): with SIF_TEST_PROBE_DIR set, appends one JSON line per call to
  `<dir>/rank<RANK>.jsonl`: {"rank", "world_size", "step" (global_step before the step), "ids" (sample ids
  this rank scored)}; this is how the tests see what each rank did.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tests.grpo.toy_rewards  # noqa: E402,F401 - registers toy_symbol_share
from sif.registry import REWARDS  # noqa: E402
from sif.rewards.suite import RewardCall, RewardSuite, register_reward  # noqa: E402

PROBE = "rank_probe"


def _probe(suite: RewardSuite, call: RewardCall) -> list[float]:
    folder = os.environ.get("SIF_TEST_PROBE_DIR")
    if folder:
        rank = int(os.environ.get("RANK", "0"))
        record = {"rank": rank, "world_size": int(os.environ.get("WORLD_SIZE", "1")),
                  "step": int(getattr(call.trainer_state, "global_step", 0) or 0), "ids": list(call.cols.keys())}
        with open(Path(folder) / f"rank{rank}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return [0.0] * call.n


if PROBE not in REWARDS:
    register_reward(PROBE, lo=0.0, hi=1.0)(_probe)

if __name__ == "__main__":
    sys.argv = [str(ROOT / "launch.py"), *sys.argv[1:]]
    runpy.run_path(str(ROOT / "launch.py"), run_name="__main__")
