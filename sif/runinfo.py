"""The run folder: resolved config with secrets masked, command line, git commit, versions, seed.

Only the main process (rank 0) writes these; every rank computes the same folder because the folder's
name is derived from the command's overrides, not from the clock.
"""

from __future__ import annotations

import os
import platform
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sif.io import write_json, write_text

# keys whose values are secrets: "api_key", "hf_token", "access_token", "secret", ... but not "max_tokens"
SECRET_KEY_PATTERN = re.compile(r"(api_?key|(^|_)token$|secret|password|passwd|credential|authorization)",
                                re.IGNORECASE)
MASK = "***"
VERSIONED_PACKAGES = (
    "torch", "transformers", "trl", "accelerate", "peft", "datasets", "hydra-core", "omegaconf",
    "openai", "numpy", "scipy", "shapely", "pillow", "deepspeed", "vllm", "wandb",
)


# (rank variable, world-size variable) of each launcher, first match wins: torchrun/accelerate/deepspeed
# (and multi-task submitit jobs, which sif.sweeps.slurm_env maps onto these), submitit-local tasks, and a
# bare srun step (SLURM_STEP_NUM_TASKS exists only inside srun; sbatch's batch script also has
# SLURM_PROCID=0 and SLURM_NTASKS but runs one process).
_RANK_SOURCES = (
    ("RANK", "WORLD_SIZE"),
    ("SUBMITIT_LOCAL_GLOBALID", "SUBMITIT_LOCAL_NTASKS"),
    ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS"),
)


def _rank_source() -> tuple[str, str] | None:
    env = os.environ
    for rank_var, world_var in _RANK_SOURCES:
        if (rank_var in env and world_var in env) or (rank_var == "RANK" and (rank_var in env or world_var in env)):
            return rank_var, world_var
    return None


def rank() -> int:
    source = _rank_source()
    return int(os.environ.get(source[0], "0")) if source else 0


def world_size() -> int:
    source = _rank_source()
    return int(os.environ.get(source[1], "1")) if source else 1


def is_main_process() -> bool:
    return rank() == 0


def seed_everything(seed: int, with_torch: bool = True) -> None:
    """Seed python, numpy and torch (all devices). Stages that never touch torch pass with_torch=False
    and skip its multi-second import; torch is still seeded if something imported it already."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ["PYTHONHASHSEED"] = str(seed)
    if not with_torch and "torch" not in sys.modules:
        return
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def mask_secrets(obj: Any, env_values: tuple[str, ...] = ()) -> Any:
    """Mask values under secret-looking keys, except `*_env` keys that hold a variable NAME; also mask any
    string equal to (or containing) one of `env_values` (the values of the key variables)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            k = str(key)
            if SECRET_KEY_PATTERN.search(k) and not k.endswith("_env") and isinstance(value, (str, int)):
                out[key] = MASK if value not in (None, "") else value
            else:
                out[key] = mask_secrets(value, env_values)
        return out
    if isinstance(obj, list):
        return [mask_secrets(v, env_values) for v in obj]
    if isinstance(obj, str):
        for secret in env_values:
            if secret and secret in obj:
                obj = obj.replace(secret, MASK)
    return obj


def secret_env_values(cfg: DictConfig | dict) -> tuple[str, ...]:
    """The current values of every environment variable that the config names as holding a key."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if str(k).endswith("_env") and isinstance(v, str) and v:
                    names.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    container = OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg
    walk(container)
    return tuple(v for n in sorted(names) if len(v := os.environ.get(n, "")) >= 4)


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5,
        )
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return (commit + ("-dirty" if dirty else "")) if commit else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def resolved_config(cfg: DictConfig) -> dict:
    """The config as plain data with every interpolation resolved where it can be."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False, enum_to_str=True)  # type: ignore[return-value]
    except Exception:  # an interpolation that needs the Hydra runtime (tests composing configs)
        return OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)  # type: ignore[return-value]


def write_run_snapshot(run_dir: Path, cfg: DictConfig, overrides: list[str]) -> None:
    """Write config.yaml (resolved, secrets masked), command.txt and run_info.json into `run_dir`."""
    secrets = secret_env_values(cfg)
    data = mask_secrets(resolved_config(cfg), secrets)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(data)))
    command = " ".join([sys.executable, *[mask_secrets(a, secrets) for a in sys.argv]])
    write_text(run_dir / "command.txt", command + "\n")
    info = {
        "command": command,
        "overrides": [mask_secrets(o, secrets) for o in overrides],
        "git_commit": git_commit(),
        "versions": package_versions(),
        "seed": int(cfg.seed),
        "world_size": world_size(),
        "host": platform.node(),
    }
    write_json(run_dir / "run_info.json", info)


@dataclass
class RunContext:
    """What a stage gets besides its config: where to write, who it is, and how to record results."""

    run_dir: Path
    cfg: DictConfig
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)

    @property
    def cache_dir(self) -> Path:
        return Path(str(self.cfg.paths.cache_dir)).expanduser().resolve()

    @property
    def secrets(self) -> tuple[str, ...]:
        return secret_env_values(self.cfg)

    def write_summary(self, summary: dict) -> None:
        if self.is_main:
            write_json(self.run_dir / "summary.json", mask_secrets(summary, self.secrets))
