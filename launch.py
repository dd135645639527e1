"""SIF's one entry point: `python launch.py stage=<name> [group=option ...] [key=value ...]`.

With no arguments it runs the demo pipeline (synthetic scenes, tiny model: generate -> sft -> grpo -> eval).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from sif.config import register_configs
from sif.runinfo import rank

register_configs()

if rank() > 0:
    # Under torchrun/accelerate every rank runs this file; only rank 0 writes Hydra's snapshot and log file.
    sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=stdout"]


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from sif.runner import objective, run

    return objective(run(cfg))


if __name__ == "__main__":
    main()
