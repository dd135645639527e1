"""GRPOConfig from our config: TRL's defaults pinned to the stage's values, the batch rule checked early."""

from __future__ import annotations

from pathlib import Path

import pytest

from sif.grpo.args import BatchSizeError, check_batch, grpo_kwargs
from tests.conftest import compose


def test_check_batch_accepts_whole_groups():
    assert check_batch(4, 1, 1, 4) == 4
    assert check_batch(1, 8, 2, 8) == 16  # the paper: 8 GPUs x 1 x accumulation 2, G = 8
    assert check_batch(2, 1, 2, 4) == 4  # TRL 1.16 generates once per optimizer step: 2 x 2 is one group


def test_check_batch_explains_the_fix():
    with pytest.raises(BatchSizeError, match=r"batch_size \(2\) x processes \(1\) .* = 2 completions per step, "
                                             r".* multiple of stage.num_generations \(4\).* multiple of 4"):
        check_batch(2, 1, 1, 4)
    with pytest.raises(BatchSizeError, match="multiple of 2"):
        check_batch(3, 2, 1, 4)  # 2 processes: a per-device batch of 2 would do
    with pytest.raises(BatchSizeError, match="at least 2"):
        check_batch(4, 1, 1, 1)


def _checkpointing(kw: dict) -> tuple[bool, dict | None]:
    """(enabled, kwargs) under either spelling (transformers 5.2x: activation_*, 5.17: gradient_*)."""
    prefix = "activation_checkpointing" if "activation_checkpointing" in kw else "gradient_checkpointing"
    return kw[prefix], kw[f"{prefix}_kwargs"]


def _kwargs(overrides: list[str], weights=(1.0, 1.0, 1.0, 1.0), processes: int = 1, **kw) -> dict:
    cfg = compose(["stage=grpo", *overrides])
    from omegaconf import OmegaConf

    stage = OmegaConf.to_object(cfg.stage)
    return grpo_kwargs(stage, cfg, Path("/tmp/sif-run"), list(weights), processes, **kw)


def test_paper_values_not_trl_defaults():
    kw = _kwargs([])
    assert kw["loss_type"] == "grpo" and kw["beta"] == 0.04 and kw["epsilon"] == 0.2  # TRL: dapo, 0.0
    assert kw["num_generations"] == 4 and kw["per_device_train_batch_size"] == 4
    assert kw["scale_rewards"] == "group" and kw["num_iterations"] == 1
    assert kw["reward_weights"] == [1.0, 1.0, 1.0, 1.0]
    assert kw["multi_objective_aggregation"] == "sum_then_normalize"
    assert kw["logging_steps"] == 1 and kw["output_dir"] == "/tmp/sif-run/checkpoints"
    assert kw["bf16"] is False and kw["fp16"] is False  # no CUDA here (TRL would default bf16=True)
    assert _checkpointing(kw)[0] is False  # model group (TRL would default True)
    assert kw["report_to"] == "none" and kw["deepspeed"] is None and kw["remove_unused_columns"] is False
    assert kw["log_completions"] is False and kw["shuffle_dataset"] is True


def test_groups_pass_through():
    kw = _kwargs(["reward.multi_objective_aggregation=normalize_then_sum", "deepspeed=zero2", "logger=tensorboard",
                  "stage.loss_type=dr_grpo", "stage.scale_rewards=none", "stage.temperature=0.7", "stage.top_p=0.9",
                  "model.gradient_checkpointing=true"], weights=(2.0, 0.5, 1.0, 0.0), shuffle=False)
    assert kw["multi_objective_aggregation"] == "normalize_then_sum"
    assert kw["deepspeed"]["zero_optimization"]["stage"] == 2
    assert kw["report_to"] == ["tensorboard"] and kw["reward_weights"] == [2.0, 0.5, 1.0, 0.0]
    assert (kw["loss_type"], kw["scale_rewards"], kw["temperature"], kw["top_p"]) == ("dr_grpo", "none", 0.7, 0.9)
    assert _checkpointing(kw) == (True, {"use_reentrant": False})
    assert kw["shuffle_dataset"] is False


def test_rollout_args_and_wandb_never_logs_image_completions():
    kw = _kwargs(["logger=wandb"], rollout_args={"use_vllm": True, "vllm_mode": "server"})
    assert kw["use_vllm"] is True and kw["vllm_mode"] == "server"
    assert kw["report_to"] == ["wandb"] and kw["log_completions"] is False


def test_bad_values_fail_early():
    with pytest.raises(ValueError, match="stage.loss_type='ppo'"):
        _kwargs(["stage.loss_type=ppo"])
    with pytest.raises(ValueError, match="reward.multi_objective_aggregation"):
        _kwargs(["reward.multi_objective_aggregation=mean"])
    with pytest.raises(BatchSizeError):
        _kwargs(["stage.per_device_train_batch_size=2"])
    with pytest.raises(BatchSizeError):  # 4 per device is fine on 1 process, not with G=8
        _kwargs(["stage.num_generations=8"])


def test_builds_a_grpo_config():
    from trl import GRPOConfig

    args = GRPOConfig(**_kwargs(["stage.max_steps=3", "stage.gradient_accumulation_steps=2",
                                 "stage.per_device_train_batch_size=2"]))
    assert args.generation_batch_size == 4 and args.steps_per_generation == 2
    assert args.loss_type == "grpo" and args.beta == 0.04 and not args.bf16
