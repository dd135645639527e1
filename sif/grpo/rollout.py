"""Rollout backends of the grpo stage (`rollout=` group): how completions are generated.

A backend turns the rollout group into GRPOConfig fields (and, later, optional trainer hooks):

* `hf`            TRL's own `model.generate` (the default; what the paper's trainer did).
* `vllm_colocate` TRL `use_vllm=True, vllm_mode="colocate"`: vLLM in-process on the training GPUs.
* `vllm_server`   TRL `use_vllm=True, vllm_mode="server"`: a separate `trl vllm-serve` process.
* `hf_fast`       TRL's regular path with `model.generate` replaced by `sif.fastgen.FastGenerator` (static
                  KV cache, CUDA graphs, torch.compile, length buckets, LoRA merged for generation only);
                  the trainer gets `sif_fast_rollout=<rollout group>` (sif.fastgen.trl_hook.FastRolloutMixin).
* `zoom`          multi-turn zoom rollouts (sif.zoom): each `</area>` shows the model its crop in a new turn;
                  the trainer gets `sif_zoom=<ZoomRolloutSettings>` from the `zoom` node
                  (sif.zoom.trl_hook.ZoomRolloutMixin). Generation by transformers' generate, or the fast path
                  with zoom.fast=true.

vLLM is an optional extra: it is imported only when a vLLM backend is chosen, and a missing package fails
with the install command.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)

VLLM_INSTALL_HINT = "pip install 'sif[vllm]'  (vllm>=0.22,<=0.31, the range TRL 1.16 accepts; GPU machines only)"


class RolloutUnavailable(RuntimeError):
    """The chosen rollout backend cannot run here (missing package, not implemented yet)."""


@dataclass
class RolloutPlan:
    """What a backend contributes: GRPOConfig fields, and GRPOTrainer keyword arguments (e.g. rollout_func)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if isinstance(cfg, dict) else getattr(cfg, key, default)


def require_vllm(backend: str) -> None:
    """Import vllm or raise RolloutUnavailable naming the package and the install command."""
    try:
        importlib.import_module("vllm")
    except ImportError as exc:  # ModuleNotFoundError, or a broken install (wrong torch/CUDA)
        raise RolloutUnavailable(
            f"rollout={backend} needs the 'vllm' package, which cannot be imported here ({exc.__class__.__name__}: "
            f"{exc}). Install it with: {VLLM_INSTALL_HINT}. Or use rollout=hf (TRL's generate).") from None


def _hf(cfg: Any) -> RolloutPlan:
    return RolloutPlan("hf", {"use_vllm": False})


def _vllm_common(cfg: Any) -> dict[str, Any]:
    return {"use_vllm": True, "vllm_tensor_parallel_size": int(_get(cfg, "vllm_tensor_parallel_size", 1))}


def _vllm_colocate(cfg: Any) -> RolloutPlan:
    require_vllm("vllm_colocate")
    args = _vllm_common(cfg)
    args.update(vllm_mode="colocate",
                vllm_gpu_memory_utilization=float(_get(cfg, "vllm_gpu_memory_utilization", 0.3)),
                vllm_enable_sleep_mode=bool(_get(cfg, "vllm_enable_sleep_mode", False)))
    return RolloutPlan("vllm_colocate", args)


def _vllm_server(cfg: Any) -> RolloutPlan:
    require_vllm("vllm_server")
    args = _vllm_common(cfg)
    args.update(vllm_mode="server", vllm_server_host=str(_get(cfg, "vllm_server_host", "127.0.0.1")),
                vllm_server_port=int(_get(cfg, "vllm_server_port", 8000)))
    timeout = _get(cfg, "server_timeout_s", None)
    if timeout is not None:
        args["vllm_server_timeout"] = float(timeout)
    return RolloutPlan("vllm_server", args)


def _hf_fast(cfg: Any) -> RolloutPlan:
    fast = {k: _get(cfg, k) for k in ("compile", "cache_implementation", "length_buckets", "cuda_graphs", "check_every",
                                      "generation_weights") if _get(cfg, k) is not None}
    if "length_buckets" in fast:
        fast["length_buckets"] = [int(b) for b in fast["length_buckets"]]
    return RolloutPlan("hf_fast", {"use_vllm": False}, trainer_kwargs={"sif_fast_rollout": fast})


def _zoom(cfg: Any, zoom_cfg: Any = None) -> RolloutPlan:
    from sif.zoom.settings import rollout_settings

    return RolloutPlan("zoom", {"use_vllm": False}, trainer_kwargs={"sif_zoom": rollout_settings(zoom_cfg)})


# name -> builder(rollout_cfg[, zoom_cfg]) -> RolloutPlan.
ROLLOUT_BACKENDS: dict[str, Callable[..., RolloutPlan]] = {
    "hf": _hf,
    "zoom": _zoom,
    "hf_fast": _hf_fast,
    "vllm_colocate": _vllm_colocate,
    "vllm_server": _vllm_server,
}
RESERVED: dict[str, str] = {}


def rollout_plan(rollout_cfg: Any, zoom_cfg: Any = None) -> RolloutPlan:
    """The plan of the backend named by `rollout_cfg.name` (rollout=zoom reads the `zoom` node, `zoom_cfg`);
    unknown or unimplemented names fail clearly."""
    name = str(_get(rollout_cfg, "name", "hf"))
    builder = ROLLOUT_BACKENDS.get(name)
    if builder is not None:
        return builder(rollout_cfg, zoom_cfg) if name == "zoom" else builder(rollout_cfg)
    if name in RESERVED:
        raise RolloutUnavailable(
            f"rollout={name} ({RESERVED[name]}) has no backend yet: it plugs in as ROLLOUT_BACKENDS[{name!r}] in "
            f"sif/grpo/rollout.py. Use rollout=hf (TRL's generate) or rollout=vllm_colocate|vllm_server.")
    known = ", ".join(sorted([*ROLLOUT_BACKENDS, *RESERVED]))
    raise RolloutUnavailable(f"unknown rollout {name!r}; known: {known}")
