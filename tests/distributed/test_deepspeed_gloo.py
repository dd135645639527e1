"""Real DeepSpeed ZeRO-2 and ZeRO-3 engines on a CPU: 2 processes over gloo (issue 15, section 7).

For each ZeRO stage: SFT for 2 steps with a checkpoint every step, then the same run continued from its
checkpoint-2 to step 3 (`stage.resume=<checkpoint>`), and the same for GRPO (the paper's ZeRO-3 setting,
with the toy reward that gives a random model's groups variance). Checked: DeepSpeed wrote its own
checkpoint (global_stepN with ZeRO states of both ranks), the resumed run starts at step 3 (its log history
has step 3 only), and the final model loads with SIF's loader. ZeRO-3 partitions the weights as they load,
which needs DeepSpeed's communication layer before the Trainer exists (sif.models.factory.connect_deepspeed_comm).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.distributed.test_torchrun_gloo import env, read_json, torchrun  # noqa: F401 - env is a fixture

pytest.importorskip("deepspeed")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("multiprocess_cpu")]

COMMON = ["model=tiny", "dataset=synth", "dataset.num_samples=16", "model.max_pixels=12544", "stage.save_steps=1"]
SFT = ["stage=sft", *COMMON, "stage.per_device_train_batch_size=2", "stage.eval_fraction=0"]
GRPO = ["stage=grpo", *COMMON, "stage.per_device_train_batch_size=4", "stage.num_generations=4",
        "stage.max_completion_length=16", "stage.save_completions_every=0", "+reward.weights.toy_symbol_share=1.0",
        "+reward.weights.rank_probe=0.0"]


def _steps(state: dict) -> list[int]:
    return sorted({h["step"] for h in state["log_history"] if "loss" in h})


@pytest.mark.parametrize("zero", ["zero2", "zero3"])
@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_zero_engine_trains_checkpoints_and_resumes_on_two_cpu_processes(tmp_path, env, zero, stage):
    args = [*(SFT if stage == "sft" else GRPO), f"deepspeed={zero}"]
    cwd = tmp_path / "work"
    cwd.mkdir()
    torchrun([*args, "stage.max_steps=2", "run_name=a"], cwd, env)
    run_a = cwd / "outputs" / "a"
    ckpt = run_a / "checkpoints" / "checkpoint-2"
    assert read_json(run_a / "summary.json")["global_step"] == 2
    ds_dir = ckpt / "global_step2"
    assert ds_dir.is_dir() and (ckpt / "latest").read_text().strip() == "global_step2"
    optim_states = sorted(p.name for p in ds_dir.iterdir() if "optim_states" in p.name)
    assert len(optim_states) == 2, optim_states  # one ZeRO partition per rank

    torchrun([*args, "stage.max_steps=3", f"stage.resume={ckpt}", "run_name=b"], cwd, env)
    run_b = cwd / "outputs" / "b"
    summary = read_json(run_b / "summary.json")
    assert summary["global_step"] == 3 and summary["resumed_from"] == str(ckpt)
    assert _steps(read_json(run_b / "final" / "trainer_state.json")) == [1, 2, 3]
    metrics = [json.loads(x) for x in (run_b / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "loss" in m] == [3]  # the resumed run trained step 3 only

    from sif.config.model import ModelConfig
    from sif.models.factory import load_model

    model = load_model(str(run_b / "final"), ModelConfig(name="tiny"))  # ZeRO-3 gathered the 16-bit weights
    assert sum(p.numel() for p in model.parameters()) > 0
    assert Path(run_b / "final" / "config.json").is_file()
