"""stage.step_split: each GRPO step's time split into its parts, logged with the step (no timing asserted)."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import run_launch

pytestmark = [pytest.mark.slow]


def test_every_part_of_every_step_is_logged(tmp_path, shared_cache):
    run_launch(["stage=grpo", "stage.step_split=true", "model=tiny", "dataset=synth", "dataset.num_samples=8",
                "stage.max_steps=2", "stage.per_device_train_batch_size=4", "stage.num_generations=4",
                "stage.max_completion_length=8", "stage.save_completions_every=0", "run_name=s"], tmp_path,
               env={"SIF_CACHE_DIR": str(shared_cache)})
    steps = [json.loads(x) for x in (tmp_path / "outputs" / "s" / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in steps if "step_time" in m]
    assert [m["step"] for m in steps] == [1, 2]
    from sif.grpo.split import PARTS

    for m in steps:
        for part in PARTS:
            value = m[f"split/{part}_s"]
            assert math.isfinite(value) and value >= 0.0, (part, value)


def test_step_split_is_off_by_default():
    from tests.conftest import compose

    assert compose(["stage=grpo"]).stage.step_split is False
