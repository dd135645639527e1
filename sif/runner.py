"""From a composed config to a finished run: folder, snapshot, seed, stage lookup, summary, DONE marker."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from omegaconf import DictConfig

from sif.registry import STAGES
from sif.runinfo import RunContext, is_main_process, rank, seed_everything, world_size, write_run_snapshot

log = logging.getLogger("sif")
DONE_MARKER = "DONE"


def run_dir_of(cfg: DictConfig) -> Path:
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir).resolve()
    except (ValueError, ImportError):  # composed outside a Hydra app (tests, notebooks)
        return (Path(str(cfg.paths.output_root)) / str(cfg.run_name)).resolve()


def task_overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except (ValueError, ImportError):
        return []


def run(cfg: DictConfig, run_dir: Path | None = None) -> dict:
    """Run the stage named by `cfg.stage.name` in `run_dir` (default: Hydra's output folder)."""
    from sif.config.choices import check_choices

    check_choices(cfg)  # a misspelled closed choice fails here, naming the key, before any work
    stage_cls = STAGES.get(str(cfg.stage.name))  # fails early, listing known stages
    run_dir = (run_dir or run_dir_of(cfg)).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(run_dir=run_dir, cfg=cfg, rank=rank(), world_size=world_size())
    done = run_dir / DONE_MARKER
    if done.exists() and not cfg.stage.force:
        log.info("%s already finished in %s (stage.force=true re-runs it)", cfg.stage.name, run_dir)
        summary_path = run_dir / "summary.json"
        return json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if is_main_process():
        write_run_snapshot(run_dir, cfg, task_overrides())
    seed_everything(int(cfg.seed), with_torch=stage_cls.uses_torch)
    started = time.time()
    summary = stage_cls(cfg, ctx).run() or {}
    summary.setdefault("stage", str(cfg.stage.name))
    summary.setdefault("wall_time_s", round(time.time() - started, 3))
    summary.setdefault("run_dir", str(run_dir))
    ctx.write_summary(summary)
    if is_main_process():
        done.write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    return summary


def objective(summary: dict) -> float | None:
    """The number a sweeper optimizes: the stage's `objective` entry, when it reports one."""
    value = summary.get("objective")
    return float(value) if isinstance(value, (int, float)) else None
