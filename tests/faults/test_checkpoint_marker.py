"""What marks a checkpoint complete (sif.training.resume): trainer_state.json, which the HF Trainer writes
LAST but not atomically (open, then write). A kill inside that write leaves the marker present but cut; the
resume must then fall back to the previous checkpoint instead of failing at every re-run.

Reproduced through launch.py while writing this suite: truncating checkpoint-2/trainer_state.json of a
stopped sft run makes every re-run of the same command fail with JSONDecodeError in Trainer.train.
"""

from __future__ import annotations

import json

import pytest

from sif.training.resume import newest_checkpoint


def _checkpoint(folder, step: int, text: str | None = None) -> None:
    ckpt = folder / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(text if text is not None else json.dumps({"global_step": step}))


def test_a_checkpoint_without_its_marker_is_skipped(tmp_path):
    _checkpoint(tmp_path, 1)
    (tmp_path / "checkpoint-2").mkdir()  # killed before the Trainer wrote trainer_state.json
    (tmp_path / "checkpoint-2" / "model.safetensors").write_bytes(b"partial")
    assert newest_checkpoint(tmp_path) == tmp_path / "checkpoint-1"


@pytest.mark.parametrize("cut", ["", '{"best_global_step": null, "global_st'])
def test_a_checkpoint_whose_marker_was_cut_is_skipped(tmp_path, cut):
    _checkpoint(tmp_path, 1)
    _checkpoint(tmp_path, 2, cut)
    assert newest_checkpoint(tmp_path) == tmp_path / "checkpoint-1"
