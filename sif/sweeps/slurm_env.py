"""torch.distributed's `env://` variables from SLURM (srun tasks) or submitit-local task variables.

submitit starts one process per task (`tasks_per_node` = GPUs per node) but exports only the scheduler's
own variables (SLURM_PROCID, SLURM_LOCALID, ...; SUBMITIT_LOCAL_GLOBALID, ... for `submitit_local`).
HF Trainer/accelerate, DeepSpeed and `sif.runinfo` read RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT, so each task maps one onto the other when its job starts (`SubmititTaskEnv`, a Hydra
callback). CUDA_VISIBLE_DEVICES is left alone: every task sees all GPUs of its node and
the trainer picks `cuda:LOCAL_RANK`.
"""

from __future__ import annotations

import os
import random
from typing import Any, Mapping, MutableMapping

from hydra.experimental.callback import Callback

DIST_KEYS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
RANK_KEYS = DIST_KEYS[:4]
PORT_RANGE = (20000, 60000)  # submitit's TorchDistributedEnvironment uses the same range


def master_port(job_id: str) -> int:
    """A port derived from the job id: every task of a job agrees on it without talking to the others,
    and two jobs (or two array elements) on one node get different ports."""
    return random.Random(job_id).randint(*PORT_RANGE)


def first_host(node_list: str) -> str:
    """The first host of a SLURM node list such as `gpu[003-004,010],cpu7`."""
    if not node_list:
        return "127.0.0.1"
    try:
        from submitit.slurm.slurm import _parse_node_list

        hosts = _parse_node_list(node_list)
        if hosts:
            return str(hosts[0])
    except Exception:  # noqa: BLE001 - fall back to a plain parse below
        pass
    head = node_list.split(",")[0]
    if "[" in head:
        prefix, rest = head.split("[", 1)
        first = rest.split(",")[0].split("-")[0].rstrip("]")
        return prefix + first
    return head


def _int(environ: Mapping[str, str], *names: str, default: int) -> int:
    for name in names:
        value = environ.get(name)
        if value not in (None, ""):
            return int(str(value).split("(")[0])  # SLURM_TASKS_PER_NODE-style "8(x2)" -> 8
    return default


def _local_task_env(env: Mapping[str, str]) -> dict[str, str]:
    world = _int(env, "SUBMITIT_LOCAL_NTASKS", default=1)
    return {
        "RANK": env["SUBMITIT_LOCAL_GLOBALID"],
        "LOCAL_RANK": env.get("SUBMITIT_LOCAL_LOCALID", env["SUBMITIT_LOCAL_GLOBALID"]),
        "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(world),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(master_port(env.get("SUBMITIT_LOCAL_JOB_ID", "0"))),
    }


def _srun_task_env(env: Mapping[str, str]) -> dict[str, str]:
    world = _int(env, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", default=1)
    nodes = _int(env, "SLURM_STEP_NUM_NODES", "SLURM_JOB_NUM_NODES", "SLURM_NNODES", default=1)
    return {
        "RANK": str(_int(env, "SLURM_PROCID", default=0)),
        "LOCAL_RANK": str(_int(env, "SLURM_LOCALID", default=0)),
        "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(max(1, world // max(1, nodes))),
        "MASTER_ADDR": first_host(env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST", "")),
        "MASTER_PORT": str(master_port(env.get("SLURM_JOB_ID", "0"))),
    }


def distributed_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The `env://` variables for this process, or {} outside a submitit-local task / an srun step.

    A submitit-local task is recognised first (its variables exist only there, even when the whole thing
    runs inside a SLURM allocation); an srun step by SLURM_PROCID with SLURM_STEP_NUM_TASKS (sbatch's batch
    script has SLURM_PROCID=0 too, but is one process).
    """
    env = os.environ if environ is None else environ
    if "SUBMITIT_LOCAL_GLOBALID" in env:
        return _local_task_env(env)
    if "SLURM_PROCID" in env and ("SLURM_STEP_NUM_TASKS" in env or env.get("SUBMITIT_EXECUTOR") == "slurm"):
        return _srun_task_env(env)
    return {}


def export_distributed_env(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Write `distributed_env()` into the environment (for jobs of more than one task) and return what
    was written.

    The rank variables always take the scheduler's values: sbatch exports the submitting shell's
    environment by default, so an inherited RANK/WORLD_SIZE must not win over SLURM_PROCID (for a
    one-task job they are only corrected where present, so a single process never looks distributed).
    MASTER_ADDR/MASTER_PORT are kept when already set (e.g. by `hydra.launcher.setup` lines), since every
    task of the job then sees the same value.
    """
    env = os.environ if environ is None else environ
    values = distributed_env(env)
    multi = int(values.get("WORLD_SIZE", "1")) > 1
    written: dict[str, str] = {}
    for key, value in values.items():
        if (key in RANK_KEYS and (multi or key in env)) or (multi and not env.get(key)):
            env[key] = value
            written[key] = value
    return written


def in_submitit_task(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a task started by submitit (SLURM or local): its sbatch script / controller sets this."""
    env = os.environ if environ is None else environ
    return bool(env.get("SUBMITIT_EXECUTOR"))


def drop_log_files() -> None:
    """Remove file handlers from the root logger (ranks > 0 log to their task's stdout only)."""
    import logging

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()


class SubmititTaskEnv(Callback):
    """Hydra callback (conf/config.yaml): prepares each submitit task before its job function runs.

    hydra-submitit-launcher runs the job function once per task (`tasks_per_node` x `nodes`, one per GPU)
    in a fresh process that never executes launch.py. Here each task exports RANK, LOCAL_RANK,
    WORLD_SIZE, MASTER_ADDR and MASTER_PORT from the scheduler's variables, and ranks > 0 stop writing the
    job's log file (Hydra has already written the identical .hydra snapshot on every rank). Every rank
    composed the same task overrides, so every rank is in the same job folder. Outside submitit (plain
    runs, Hydra's basic launcher, torchrun) it does nothing.
    """

    def on_job_start(self, config: Any = None, **kwargs: Any) -> None:
        if not in_submitit_task():
            return
        task_rank = int(distributed_env().get("RANK", "0"))
        export_distributed_env()
        if task_rank > 0:
            drop_log_files()
