"""What a GRPO checkpoint holds besides TRL's own files: the curriculum state and the progress memory.

`SIFGRPOTrainer` (sif.grpo.trainer) is the only writer and reader: it saves both into `checkpoint-N/` before
TRL writes the file that marks a checkpoint complete, and restores them before it resumes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

from sif.io import write_json
from sif.rewards.memory import FILENAME as MEMORY_FILENAME

STATE_FILENAME = "curriculum_state.json"


def save_state(ckpt_dir: str | os.PathLike, curriculum: Optional[Any] = None,
               progress_memory: Optional[Any] = None) -> None:
    """Write curriculum_state.json and progress_memory.json into `ckpt_dir` (atomic writes)."""
    ckpt = Path(ckpt_dir)
    if curriculum is not None:
        write_json(ckpt / STATE_FILENAME, curriculum.state_dict())
    if progress_memory is not None:
        progress_memory.save(ckpt / MEMORY_FILENAME)


def restore_from_checkpoint(ckpt_dir: str | os.PathLike, curriculum: Optional[Any] = None,
                            progress_memory: Optional[Any] = None) -> dict[str, bool]:
    """Load what `save_state` wrote; a missing file leaves that object as it is. Says what was found."""
    ckpt = Path(ckpt_dir)
    found = {"curriculum": False, "progress_memory": False}
    if curriculum is not None and (ckpt / STATE_FILENAME).is_file():
        with open(ckpt / STATE_FILENAME, encoding="utf-8") as fh:
            curriculum.load_state_dict(json.load(fh))
        found["curriculum"] = True
    if progress_memory is not None and (ckpt / MEMORY_FILENAME).is_file():
        progress_memory.load(ckpt / MEMORY_FILENAME)
        found["progress_memory"] = True
    return found
