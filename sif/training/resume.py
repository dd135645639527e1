"""Which checkpoint a training run continues from: `stage.resume` = auto | never | <path>."""

from __future__ import annotations

import json

import logging
import re
from pathlib import Path
from typing import Optional

log = logging.getLogger("sif.training")

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"  # the Trainer writes it into every checkpoint; a folder without it is partial


def _state_is_whole(path: Path) -> bool:
    """The Trainer writes trainer_state.json in place (not atomically): a process killed mid-write leaves a
    cut file, and a checkpoint whose state does not parse is skipped rather than resumed into a crash."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


def checkpoints(folder: str | Path) -> list[Path]:
    """Complete `checkpoint-N` folders under `folder`, oldest (lowest N) first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        m = _CHECKPOINT.match(child.name)
        if m and child.is_dir() and _state_is_whole(child / STATE_FILE):
            found.append((int(m.group(1)), child))
    return [p for _, p in sorted(found)]


def newest_checkpoint(folder: str | Path) -> Optional[Path]:
    found = checkpoints(folder)
    return found[-1] if found else None


def resolve_resume(resume: str | None, checkpoints_dir: str | Path) -> Optional[str]:
    """The checkpoint folder to pass to `trainer.train(resume_from_checkpoint=...)`, or None to start fresh.

    "auto": the newest complete checkpoint in `checkpoints_dir`, if any. "never" (or empty): None. Anything
    else is a path: a checkpoint folder, or a folder holding checkpoint-N folders (a run's `checkpoints/`, or a
    run folder containing one), whose newest is taken. A path that holds no checkpoint is an error.
    """
    value = (resume or "never").strip()
    if value.lower() in ("never", "none", "false", "no", ""):
        return None
    if value.lower() == "auto":
        found = newest_checkpoint(checkpoints_dir)
        if found is not None:
            log.info("resuming from %s", found)
        return str(found) if found is not None else None
    path = Path(value).expanduser().resolve()
    if (path / STATE_FILE).is_file():
        return str(path)
    for folder in (path, path / "checkpoints"):
        found = newest_checkpoint(folder)
        if found is not None:
            return str(found)
    raise FileNotFoundError(f"stage.resume={value!r}: no checkpoint there (a folder with {STATE_FILE}, or one "
                            "holding checkpoint-N folders); use resume=auto or resume=never")


# ---- loading a full-model checkpoint on resume --------------------------------------------------------------

def _saved_weight_names(checkpoint: Path) -> Optional[set[str]]:
    """Tensor names of a checkpoint's model.safetensors (single file or sharded), None when it has neither."""
    single, index = checkpoint / "model.safetensors", checkpoint / "model.safetensors.index.json"
    if single.is_file():
        from safetensors import safe_open

        with safe_open(str(single), framework="pt") as fh:
            return set(fh.keys())
    if index.is_file():
        import json

        return set(json.loads(index.read_text(encoding="utf-8"))["weight_map"])
    return None


class ConvertedCheckpointResumeMixin:
    """Resume a full (non-PEFT, non-DeepSpeed/FSDP) model whose checkpoint stores renamed weights.

    transformers 5.x saves Qwen2.5-VL in its original layout (`model.layers.*`, `visual.*`) while the module
    names are `model.language_model.*`, `model.visual.*`; `Trainer._load_from_checkpoint` loads with
    `load_state_dict(strict=False)` and no renaming, so every weight is silently skipped and the "resumed" run
    continues from the initial weights (huggingface/transformers#43701, still so in 5.17 and 5.24). When the
    saved names do not match the model's, the checkpoint is loaded through `from_pretrained` (which renames)
    and copied in strictly; matching names, adapters, DeepSpeed and FSDP keep the Trainer's own path.
    """

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):  # noqa: ANN001 - Trainer's signature
        target = self.model if model is None else model  # type: ignore[attr-defined]
        special = (getattr(self, "is_deepspeed_enabled", False) or getattr(self, "is_fsdp_enabled", False)
                   or hasattr(target, "peft_config"))
        saved = None if special else _saved_weight_names(Path(resume_from_checkpoint))
        if saved is None or saved <= set(target.state_dict()):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)  # type: ignore[misc]
        import torch

        log.info("loading %s through from_pretrained: its weight names differ from the model's", resume_from_checkpoint)
        dtype = next(target.parameters()).dtype
        loaded = type(target).from_pretrained(str(resume_from_checkpoint), dtype=dtype)
        with torch.no_grad():
            target.load_state_dict(loaded.state_dict(), strict=True)
        del loaded
