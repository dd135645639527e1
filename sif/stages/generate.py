"""stage=generate: SIF training data from synthetic scenes or VisCoT / TallyQA / SIF-50K-format files (the work
itself is sif.generate.split, which the synthetic cache shares)."""

from __future__ import annotations

import logging

from sif.generate.split import generate_settings, generate_split
from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.generate")


@STAGES.register("generate")
class GenerateStage(Stage):
    name = "generate"
    uses_torch = False  # depth models import (and need) torch themselves

    def run(self) -> dict:
        summary = generate_split(self.cfg, generate_settings(self.cfg), self.ctx.run_dir, progress=self.ctx.is_main)
        log.info("generate: %d samples written (%d resumed), %d rejected, %d skipped -> %s",
                 summary["written"], summary["resumed"], summary["rejected_total"], summary["skipped_total"],
                 summary["samples_path"])
        client = (summary.get("teacher") or {}).get("client")
        if client:  # the teacher API's counts: retries, failed attempts by reason, calls that failed for good
            log.info("generate: teacher client %s", {k: v for k, v in client.items() if v})
        return summary
