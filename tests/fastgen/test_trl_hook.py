"""rollout=hf_fast inside TRL's GRPOTrainer (CPU, tiny model): the fast path replaces `model.generate` in the
regular generation path, gives the completions TRL's own path gives (compared at a temperature so low that
sampling is argmax on both paths), and a training step runs through it with LoRA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sif.prompt import build_messages
from sif.fastgen.trl_hook import FastRolloutMixin
from tests.fastgen.conftest import images


def _dataset(n: int):
    import datasets

    rows = []
    for i in range(n):
        rgb, depth = images(i, [(96, 64), (96, 64)])
        messages = build_messages(["What is left?", "How many cubes?"][i % 2], None, with_depth=True)
        rows.append({"prompt": messages, "images": [rgb, depth]})
    return datasets.Dataset.from_list(rows)


def _reward(completions, **kwargs):
    return [float(len(str(c))) % 7 for c in completions]  # varies, so advantages are non-zero


def _trainer(model, processor, tmp_path, fast: bool, temperature: float, lora: bool = False):
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    class Trainer(FastRolloutMixin, GRPOTrainer):
        pass

    args = GRPOConfig(output_dir=str(tmp_path / ("fast" if fast else "plain")), per_device_train_batch_size=4,
                      num_generations=4, max_completion_length=10, temperature=temperature, max_steps=1,
                      bf16=False, gradient_checkpointing=False, report_to=[], logging_steps=1, save_strategy="no",
                      use_cpu=True, learning_rate=1e-3, seed=0, beta=0.0)
    peft_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]) if lora else None
    trainer = Trainer(model=model, reward_funcs=[_reward], args=args, train_dataset=_dataset(4),
                      processing_class=processor, peft_config=peft_config)
    trainer.sif_fast_rollout = {"compile": False} if fast else None
    return trainer


def _completions(trainer):
    batch = [trainer.train_dataset[i] for i in range(4)]
    from trl.data_utils import prepare_multimodal_messages

    prompts = [prepare_multimodal_messages(b["prompt"], images=b["images"]) for b in batch]
    prompt_ids, imgs, fields = trainer._tokenize_prompts(prompts)
    return trainer._generate_single_turn(prompt_ids, imgs, fields, 4)[0]


def test_fast_path_gives_trl_completions(tiny, tmp_path):
    import copy

    model, processor = tiny
    plain = _trainer(copy.deepcopy(model), processor, tmp_path, fast=False, temperature=1e-6)
    fast = _trainer(copy.deepcopy(model), processor, tmp_path, fast=True, temperature=1e-6)
    torch.manual_seed(0)
    expected = _completions(plain)
    torch.manual_seed(0)
    got = _completions(fast)
    assert got == expected and all(len(c) > 0 for c in got)
    assert fast._sif_fast_generator.stats.calls == 1 and fast._sif_fast_generator.stats.fallback_calls == 0


def test_grpo_step_runs_through_the_fast_path_with_lora(tiny, tmp_path):
    import copy

    model, processor = tiny
    trainer = _trainer(copy.deepcopy(model), processor, tmp_path, fast=True, temperature=1.0, lora=True)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_B" in n}
    out = trainer.train()
    assert trainer._sif_fast_generator.stats.calls >= 1
    assert np.isfinite(out.training_loss)
    changed = [n for n, p in trainer.model.named_parameters() if "lora_B" in n and not torch.equal(p, before[n])]
    assert changed  # the adapter trained
