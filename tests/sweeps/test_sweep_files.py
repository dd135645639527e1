"""Every ready sweep (sweeps/*.yaml) and every ablation variant composes, and sweeps what it says."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.conftest import ROOT, compose
from tests.sweeps._hydra import load_multirun_config

SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))
ABLATIONS = sorted(p.stem for p in (ROOT / "sweeps" / "ablation").glob("*.yaml"))


def test_sweep_group_is_the_sweeps_folder():
    link = ROOT / "conf" / "sweep"
    assert link.is_symlink() and not str(link.readlink()).startswith("/")  # relative: works in any clone
    assert link.resolve() == (ROOT / "sweeps").resolve()
    assert {"smoke", "reward_weights", "curriculum", "ablations", "lr_lora"} <= set(SWEEPS)


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_composes_and_names_its_folder(name):
    text = (ROOT / "sweeps" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_"), name
    cfg = load_multirun_config([f"+sweep={name}"])
    assert cfg.sweep_name == name and cfg.sweep.name == name
    assert str(cfg.hydra.sweep.dir).endswith(f"multirun/{name}")
    params = cfg.hydra.sweeper.params
    assert params, f"sweep {name} sweeps nothing"
    for key in params:
        key = str(key)
        if key.startswith("+") or key in ("curriculum",):  # config-group choices
            continue
        assert OmegaConf.select(cfg, key, throw_on_missing=False) is not None, f"{name}: {key} is not a config key"


@pytest.mark.parametrize("name", ["reward_weights", "curriculum", "ablations", "lr_lora"])
def test_training_sweeps_run_short_grpo_on_the_tiny_model(name):
    cfg = compose([f"+sweep={name}"])
    assert cfg.stage.name == "grpo" and cfg.model.name == "tiny" and cfg.dataset.name == "synth"
    assert 0 < cfg.stage.max_steps <= 20


def test_smoke_sweep_is_a_tiny_generate_grid():
    cfg = load_multirun_config(["+sweep=smoke"])
    assert cfg.stage.name == "generate"
    sizes = [len(str(v).split(",")) for v in cfg.hydra.sweeper.params.values()]
    assert sizes and int(__import__("math").prod(sizes)) >= 4


def test_reward_weights_grid_covers_the_four_rewards():
    cfg = load_multirun_config(["+sweep=reward_weights"])
    keys = set(map(str, cfg.hydra.sweeper.params))
    rewards = ("format", "answer_progress", "box_iou_progress", "depth_consistency")
    assert keys == {f"reward.weights.{k}" for k in rewards}


def test_curriculum_sweep_lists_every_curriculum_option():
    cfg = load_multirun_config(["+sweep=curriculum"])
    options = {p.stem for p in (ROOT / "conf" / "curriculum").glob("*.yaml")}
    assert set(str(cfg.hydra.sweeper.params.curriculum).split(",")) == options


def test_lr_lora_is_an_optuna_search_over_lr_and_rank():
    cfg = load_multirun_config(["+sweep=lr_lora"])
    assert "optuna" in cfg.hydra.sweeper._target_.lower()
    assert str(cfg.hydra.sweeper.direction).endswith("maximize")
    params = {str(k): str(v) for k, v in cfg.hydra.sweeper.params.items()}
    assert params["stage.learning_rate"].startswith("tag(log, interval(")
    assert params["model.lora.r"].startswith("choice(")
    assert cfg.model.lora.enabled is True
    assert cfg.model.lora.alpha == cfg.model.lora.r


def test_ablations_sweep_lists_every_variant_and_each_composes():
    cfg = load_multirun_config(["+sweep=ablations"])
    listed = str(cfg.hydra.sweeper.params["+sweep/ablation"]).split(",")
    assert sorted(listed) == ABLATIONS
    base = compose(["stage=grpo"])
    for variant in ABLATIONS:
        c = compose(["stage=grpo", f"+sweep/ablation={variant}"])
        w = dict(c.reward.weights)
        if variant == "full":
            assert w == dict(base.reward.weights) and c.stage.image_inputs == "rgb+depth"
        if variant in ("no_depth_image", "no_depth"):
            assert c.stage.image_inputs == "rgb"
        if variant in ("no_depth_reward", "no_depth"):
            assert w["depth_consistency"] == 0.0
        if variant == "no_progress":
            assert w["answer_progress"] == 0.0 and w["box_iou_progress"] == 0.0
            assert w["answer"] > 0 and w["box_iou"] > 0
        for reward in ("format", "answer_progress", "box_iou_progress"):
            if variant == f"no_{reward}":
                assert w[reward] == 0.0 and sum(v > 0 for v in w.values()) == 3


def test_ablation_variants_keep_the_chosen_reward_group():
    c = compose(["stage=grpo", "reward=paper", "judge=openai", "+sweep/ablation=no_progress"])
    assert c.reward.answer_scorer == "judge" and c.reward.weights.answer == 1.0


def test_no_progress_reward_option():
    c = compose(["stage=grpo", "reward=no_progress"])
    w = dict(c.reward.weights)
    assert w["answer_progress"] == 0.0 and w["box_iou_progress"] == 0.0 and w["answer"] == 1.0 and w["box_iou"] == 1.0
    assert c.reward.answer_scorer == "rule"


def test_command_line_beats_the_sweep_defaults():
    cfg = compose(["+sweep=reward_weights", "stage.max_steps=3", "model=qwen2_5_vl_3b"])
    assert cfg.stage.max_steps == 3 and cfg.model.name == "qwen2_5_vl_3b"


def test_reward_names_in_sweeps_are_registered():
    from sif.registry import REWARDS

    names = set()
    for variant in ABLATIONS:
        names |= set(compose(["stage=grpo", f"+sweep/ablation={variant}"]).reward.weights)
    missing = sorted(n for n in names if n not in REWARDS)
    assert not missing, f"sweeps name unregistered rewards: {missing}"


def test_lr_lora_search_space_parses_as_optuna_distributions():
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override

    cfg = load_multirun_config(["+sweep=lr_lora"])
    parser = OverridesParser.create()
    dists = {str(k): create_optuna_distribution_from_override(parser.parse_override(f"{k}={v}"))
             for k, v in cfg.hydra.sweeper.params.items()}
    lr = dists["stage.learning_rate"]
    assert (lr.low, lr.high) == (1e-6, 1e-3) and ("Log" in type(lr).__name__ or getattr(lr, "log", False))
    assert list(dists["model.lora.r"].choices) == [4, 8, 16, 32, 64]
