"""stage=compare: several eval runs -> compare.md, compare.csv and compare.png (bar chart).

`python launch.py stage=compare 'stage.runs=[outputs/eval-*]'` (paths or globs, relative to the working
directory); `stage.metric=accuracy` (overall + per category) or another aggregate number to chart.
"""

from __future__ import annotations

import logging

from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.eval")


@STAGES.register("compare")
class CompareStage(Stage):
    name = "compare"
    uses_torch = False

    def run(self) -> dict:
        from sif.eval.report.compare import find_runs, write_comparison

        st = self.cfg.stage
        if not st.runs:
            raise ValueError("stage=compare needs stage.runs=[<eval run folder or glob>, ...]")
        runs = find_runs([str(r) for r in st.runs])
        summary = write_comparison(runs, self.ctx.run_dir, str(st.metric))
        table = summary.pop("table")
        print("\n" + table, flush=True)
        print(f"chart: {summary['chart']}", flush=True)
        return summary
