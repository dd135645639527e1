"""sif.training: resume resolution, TrainingArguments from the config groups, metrics/plots, summary numbers, split."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sif.training.args import configure_logger_env, deepspeed_config, eval_kwargs, report_to, training_kwargs
from sif.training.callbacks import MetricsJsonlCallback, plot_loss_curve, read_metrics, series
from sif.training.dataset import split_train_eval
from sif.models.checkpoints import resolve_init_from
from sif.training.resume import checkpoints, resolve_resume
from sif.training.summary import objective, train_numbers
from tests.conftest import compose


def _checkpoint(folder: Path, step: int, complete: bool = True) -> Path:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return path


def test_resume_auto_takes_the_newest_complete_checkpoint(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    assert resolve_resume("auto", ckpts) is None  # nothing yet: a fresh start
    _checkpoint(ckpts, 5)
    newest = _checkpoint(ckpts, 20)
    _checkpoint(ckpts, 100, complete=False)  # killed while saving
    _checkpoint(ckpts, 9)
    assert [p.name for p in checkpoints(ckpts)] == ["checkpoint-5", "checkpoint-9", "checkpoint-20"]
    assert resolve_resume("auto", ckpts) == str(newest)
    assert resolve_resume("never", ckpts) is None
    assert resolve_resume(str(ckpts / "checkpoint-5"), tmp_path / "elsewhere") == str(ckpts / "checkpoint-5")
    assert resolve_resume(str(tmp_path / "run"), tmp_path / "elsewhere") == str(newest)  # a run folder
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        resolve_resume(str(tmp_path / "missing"), ckpts)


def test_init_from_a_finished_run_folder_uses_its_checkpoint(tmp_path):
    run = tmp_path / "sft-run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"checkpoint": str(run / "merged")}))
    assert resolve_init_from(str(run)) == str(run / "merged")
    assert resolve_init_from("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert resolve_init_from(None) is None


def test_training_kwargs_follow_the_stage_and_turn_mixed_precision_off_on_cpu(tmp_path):
    cfg = compose(["stage=sft", "stage.bf16=true", "stage.max_steps=7", "stage.warmup_ratio=0.2",
                   "deepspeed=zero2", "model.gradient_checkpointing=true", "seed=3"])
    kw = training_kwargs(cfg.stage, cfg, tmp_path / "run")
    assert kw["output_dir"] == str(tmp_path / "run" / "checkpoints") and kw["run_name"] == "run"
    assert kw["max_steps"] == 7 and kw["seed"] == 3 and kw["data_seed"] == 3 and kw["warmup_steps"] == 0.2
    assert kw["remove_unused_columns"] is False and kw["report_to"] == "none"
    name = "activation_checkpointing" if "activation_checkpointing" in kw else "gradient_checkpointing"
    assert kw[name] is True and kw[f"{name}_kwargs"] == {"use_reentrant": False}
    import torch

    if not torch.cuda.is_available():
        assert kw["bf16"] is False and kw["fp16"] is False
    assert isinstance(kw["deepspeed"], dict) and kw["deepspeed"]["zero_optimization"]["stage"] == 2
    assert deepspeed_config(compose(["deepspeed=none"]).deepspeed) is None
    assert eval_kwargs(cfg.stage, False) == {"eval_strategy": "no"}
    assert eval_kwargs(cfg.stage, True)["eval_steps"] == cfg.stage.eval_steps
    with pytest.raises(ValueError, match="warmup_ratio"):
        training_kwargs(compose(["stage=sft", "stage.warmup_ratio=1.5"]).stage, cfg, tmp_path)


def test_sft_config_accepts_the_kwargs_on_this_machine(tmp_path):
    from trl import SFTConfig

    cfg = compose(["stage=sft", "model=tiny"])
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = SFTConfig(**training_kwargs(cfg.stage, cfg, tmp_path), **eval_kwargs(cfg.stage, True),
                         max_length=int(cfg.stage.max_length), completion_only_loss=True)
    assert args.bf16 is False and args.gradient_checkpointing is False and args.learning_rate == 1e-4
    assert not any(w.category is FutureWarning and "checkpointing" in str(w.message) for w in caught)


def test_logger_groups(tmp_path, monkeypatch):
    for key in ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "TENSORBOARD_LOGGING_DIR"):
        monkeypatch.delenv(key, raising=False)
    wandb = compose(["logger=wandb"]).logger
    assert report_to(wandb) == ["wandb"]
    env = configure_logger_env(wandb, tmp_path)
    assert os.environ["WANDB_MODE"] == "offline" == env["WANDB_MODE"]
    assert os.environ["WANDB_DIR"] == str(tmp_path)
    tb = compose(["logger=tensorboard"]).logger
    assert report_to(tb) == ["tensorboard"]
    configure_logger_env(tb, tmp_path)
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "tensorboard")
    assert report_to(compose([]).logger) == "none"


class _State:
    def __init__(self, step: int, main: bool = True) -> None:
        self.global_step, self.epoch, self.is_world_process_zero = step, step / 10, main


def test_metrics_jsonl_plot_and_summary_numbers(tmp_path):
    cb = MetricsJsonlCallback(tmp_path / "metrics.jsonl")
    cb.on_train_begin(None, _State(0), None)
    for step in range(1, 6):
        cb.on_log(None, _State(step), None, logs={"loss": 3.0 - step * 0.1, "num_tokens": 100.0 * step})
    cb.on_log(None, _State(5), None, logs={"eval_loss": 2.4})
    cb.on_log(None, _State(6, main=False), None, logs={"loss": 9.9})  # other ranks write nothing
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert len(records) == 6 and records[0]["step"] == 1 and records[-1]["eval_loss"] == 2.4
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 7, "loss"')  # torn line of a killed run
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 6
    resumed = MetricsJsonlCallback(tmp_path / "metrics.jsonl")  # a re-run cuts the torn line before appending
    resumed.on_train_begin(None, _State(4), None)
    resumed.on_log(None, _State(5), None, logs={"loss": 2.0})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 7 and json.loads(lines[-1])["loss"] == 2.0 and resumed.start_step == 4
    assert series(records + [{"step": 5, "loss": 1.0}], "loss")[-1] == (5, 1.0)  # a re-logged step: last wins
    png = plot_loss_curve(records, tmp_path / "loss.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"
    assert plot_loss_curve([], tmp_path / "none.png") is None
    numbers = train_numbers(records, cb.session, {"train_runtime": 10.0, "train_loss": 2.7})
    assert numbers["train_loss_first"] == pytest.approx(2.9) and numbers["train_loss_last"] == pytest.approx(2.5)
    assert numbers["input_ids_seen"] == 500 and numbers["tokens_per_s"] == 50.0
    assert objective(2.4, 2.5) == -2.4 and objective(None, 2.5) == -2.5 and objective(None, None) is None


def test_split_is_seeded_disjoint_and_never_empty():
    items = list(range(50))
    train, held = split_train_eval(items, 0.1, seed=1)
    assert len(held) == 5 and sorted(train + held) == items and not set(train) & set(held)
    assert split_train_eval(items, 0.1, seed=1) == (train, held)
    assert split_train_eval(items, 0.1, seed=2)[1] != held
    assert split_train_eval(items[:3], 0.01, seed=1)[1] != []  # at least one
    assert split_train_eval(items[:1], 0.5, seed=1) == ([0], [])  # never the whole set
    assert split_train_eval(items, 0.0, seed=1) == (items, [])
