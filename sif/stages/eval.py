"""stage=eval: a benchmark (benchmark=) through an inference backend (backend=), strict scores, results.

`python launch.py stage=eval benchmark=synth backend=hf [stage.checkpoint=<folder>]`. The checkpoint is
`stage.checkpoint` (any weight source of sif.models.checkpoints: hub id, checkpoint, LoRA adapter merged once
into the cache, run folder) or the model group. The
loop, its resume rule and the files it writes are in `sif.eval.runner`. Rank 0 does the work (other ranks
of a torchrun launch return at once). The run ends by printing the results table and the report's path.
"""

from __future__ import annotations

import logging

from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.eval")


@STAGES.register("eval")
class EvalStage(Stage):
    name = "eval"
    uses_torch = False  # greedy decoding needs no seed; the hf backend seeds its own sampling (and imports torch)

    def run(self) -> dict:
        if not self.ctx.is_main:
            log.info("eval runs on rank 0 only; rank %d has nothing to do", self.ctx.rank)
            return {}
        from sif.eval.runner import evaluate

        summary = evaluate(self.cfg, self.ctx.run_dir, progress=True)
        table = summary.pop("table")
        print("\n" + table, flush=True)
        if summary.get("report"):
            print(f"HTML report: {summary['report']}", flush=True)
        return summary
