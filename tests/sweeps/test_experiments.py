"""Every experiment in conf/experiment composes, and the paper recipes carry the paper's numbers."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from sif.config.store import STAGE_SCHEMAS
from tests.conftest import ROOT, compose

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def test_the_documented_experiments_exist():
    assert {"demo", "paper_sft_7b", "paper_grpo_7b", "paper_eval", "synth_repro"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_with_typed_stage(name):
    assert (ROOT / "conf" / "experiment" / f"{name}.yaml").read_text().startswith("# @package _global_")
    cfg = compose([f"experiment={name}"])
    assert cfg.experiment_name == name
    stage = OmegaConf.to_object(cfg.stage)
    assert isinstance(stage, STAGE_SCHEMAS[cfg.stage.name])


def test_demo_is_the_default_pipeline():
    demo, default = compose(["experiment=demo"]), compose([])
    for key in ("stage", "model", "dataset", "reward", "curriculum"):
        assert demo[key] == default[key], key


def test_paper_sft_7b():
    c = compose(["experiment=paper_sft_7b"])
    s, m = c.stage, c.model
    assert (c.stage.name, m.name, m.path) == ("sft", "qwen2_5_vl_7b", "Qwen/Qwen2.5-VL-7B-Instruct")
    assert (m.lora.enabled, m.lora.r, m.lora.alpha, list(m.lora.target_modules)) == (True, 8, 16, ["all-linear"])
    assert m.freeze_vision and not m.lora.include_vision and m.max_pixels == 262144
    assert (s.learning_rate, s.lr_scheduler_type) == (1e-4, "cosine")
    assert (s.warmup_ratio, s.num_train_epochs) == (0.1, 3.0)
    assert (s.per_device_train_batch_size, s.gradient_accumulation_steps) == (2, 8)
    assert (s.max_length, s.eval_fraction, s.bf16) == (2048, 0.1, True)


def test_paper_grpo_7b():
    c = compose(["experiment=paper_grpo_7b"])
    s, m = c.stage, c.model
    assert (s.name, s.loss_type, s.beta) == ("grpo", "grpo", 0.04)
    assert (s.num_generations, s.max_completion_length, s.temperature) == (8, 2048, 1.0)
    assert (s.learning_rate, s.per_device_train_batch_size, s.gradient_accumulation_steps) == (1e-5, 1, 2)
    assert s.bf16 and m.gradient_checkpointing and m.freeze_vision and not m.lora.include_vision
    assert (m.lora.r, m.lora.alpha, m.lora.dropout) == (64, 128, 0.05)
    assert c.deepspeed.name == "zero3" and c.deepspeed.config.zero_optimization.stage == 3
    assert c.reward.name == "paper" and c.reward.answer_scorer == "judge" and c.judge.name != "none"
    assert set(c.reward.weights) >= {"format", "answer_progress", "box_iou_progress", "depth_consistency"}
    # the paper, not our corrections (issue 15): its reward code, its RL prompt, its sampling
    assert c.reward.paper_compat is True
    assert (s.image_inputs, s.prompt, s.top_k, s.top_p) == ("rgb", "paper", 50, 1.0)


def test_the_default_reward_is_the_corrected_one_and_paper_means_paper():
    assert compose([]).reward.name == "sif" and compose([]).reward.paper_compat is False
    assert compose(["reward=paper"]).reward.paper_compat is True
    assert compose(["experiment=paper_eval", "benchmark=vstar", "paths.data_root=/x"]).backend.prompt == "paper"
    doc = (ROOT / "docs" / "EXPERIMENTS.md").read_text()
    assert "every departure" in doc and "| box progress bonus |" in doc


def test_paper_eval_is_a_benchmark_multirun():
    c = compose(["experiment=paper_eval", "benchmark=vstar", "paths.data_root=/data/bench"])
    assert c.stage.name == "eval" and c.sweep_name == "paper_eval"
    assert c.benchmark.path == "/data/bench/vstar"
    for bench in ("vstar", "cvbench", "sat", "spatialbench", "viscot"):
        cfg = compose(["experiment=paper_eval", f"benchmark={bench}", "paths.data_root=/b"])
        assert cfg.benchmark.path == f"/b/{bench}"
    single = compose(["experiment=paper_eval", "benchmark=sat", "benchmark.path=/x/sat.json"])
    assert single.benchmark.path == "/x/sat.json"


def test_synth_repro_is_a_larger_pipeline():
    c, demo = compose(["experiment=synth_repro"]), compose(["experiment=demo"])
    assert c.stage.name == "pipeline" and c.model.name == "tiny"
    assert c.dataset.num_samples >= 50 * demo.dataset.num_samples and c.dataset.eval_samples >= 1000
    assert c.model.tiny.hidden_size > demo.model.tiny.hidden_size
    assert c.model.tiny.num_hidden_layers > demo.model.tiny.num_hidden_layers
    assert c.stage.sft_max_steps > demo.stage.sft_max_steps and c.stage.grpo_max_steps > demo.stage.grpo_max_steps


def test_synth_repro_tiny_sizes_are_buildable():
    from sif.models import tiny

    validate = getattr(tiny, "_validate", None)
    if validate is None:
        pytest.skip("sif.models.tiny has no size check")
    validate(tiny._as_tiny_config(compose(["experiment=synth_repro"]).model.tiny))  # raises on bad sizes
