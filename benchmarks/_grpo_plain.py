"""A PLAIN TRL GRPOTrainer script (the reference of grpo_step.py): no SIF trainer, stage or rollout code.

Same model folder, same samples (THE prompt: RGB + depth colour image, built from samples.jsonl here with the
one prompt sentence), same settings as our stage run: LoRA r64/alpha 128 on the language model's linears, bf16,
gradient checkpointing, beta 0.04, loss grpo, 1 prompt x 8 generations x 256 tokens per step, temperature 1.
TRL's own `step_time` metric (generation + loss + backward of one step) is reported per step.

`--fast` mixes `sif.fastgen.trl_hook.FastRolloutMixin` into the trainer (rollout=hf_fast without our stage):
used only if the stage run is not possible, and said so in the result.

    python benchmarks/_grpo_plain.py --model-dir D --samples S/samples.jsonl --steps 4 --out plain.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

CPU = __import__('os').environ.get('SIF_BENCH_CPU') == '1'  # smoke-test the script on a CPU (tiny model)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rows(samples: Path, n: int) -> list[dict]:
    from PIL import Image

    from sif.prompt import build_messages

    out = []
    for line in samples.read_text(encoding="utf-8").splitlines()[:n]:
        rec = json.loads(line)
        base = samples.parent
        rgb = Image.open(base / rec["image"]).convert("RGB")
        depth = Image.open((base / rec["depth"]).with_suffix(".png")).convert("RGB")
        out.append({"prompt": build_messages(rec["question"], rec.get("choices"), with_depth=True),
                    "images": [rgb, depth], "answer": rec["answer"]})
    return out


def answer_reward(completions, answer, **kwargs):
    """A cheap reward with variance (TRL needs it): 1 if the answer letter appears in the completion."""
    texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
    return [float(str(a) in t) + 0.01 * (len(t) % 7) for t, a in zip(texts, answer)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", required=True)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--lora-r", type=int, default=64)
    ap.add_argument("--fast", action="store_true")
    args = ap.parse_args()

    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    t0 = time.perf_counter()
    model = AutoModelForImageTextToText.from_pretrained(args.model_dir, dtype=torch.bfloat16,
                                                        attn_implementation="sdpa")
    processor = AutoProcessor.from_pretrained(args.model_dir)
    for p in model.model.visual.parameters():
        p.requires_grad_(False)
    targets = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "visual" not in n.split(".")
               and not n.endswith("lm_head")]
    peft_config = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0, target_modules=targets,
                             task_type="CAUSAL_LM")
    data = datasets.Dataset.from_list(rows(Path(args.samples), max(args.steps, 1) * 2))
    cfg = GRPOConfig(output_dir=str(Path(args.out).parent / ("grpo-fast" if args.fast else "grpo-plain")),
                     per_device_train_batch_size=args.generations, num_generations=args.generations,
                     max_completion_length=args.new_tokens, temperature=1.0, top_p=1.0, beta=0.04, loss_type="grpo",
                     learning_rate=1e-5, max_steps=args.steps, logging_steps=1, save_strategy="no", report_to=[],
                     bf16=not CPU, gradient_checkpointing=not CPU, seed=0, dataloader_num_workers=0)

    step_walls: list[float] = []

    class Wall(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            (torch.cuda.synchronize() if torch.cuda.is_available() else None)
            self.t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            (torch.cuda.synchronize() if torch.cuda.is_available() else None)
            step_walls.append(time.perf_counter() - self.t)

    base = GRPOTrainer
    if args.fast:
        from sif.fastgen.trl_hook import FastRolloutMixin

        class Trainer(FastRolloutMixin, GRPOTrainer):
            pass

        base = Trainer
    trainer = base(model=model, reward_funcs=[answer_reward], args=cfg, train_dataset=data, processing_class=processor,
                   peft_config=peft_config, callbacks=[Wall()])
    if args.fast:
        trainer.sif_fast_rollout = {"compile": True}
    load_s = time.perf_counter() - t0
    torch.cuda.is_available() and torch.cuda.reset_peak_memory_stats()
    trainer.train()
    hist = trainer.state.log_history
    step_times = [h["step_time"] for h in hist if "step_time" in h]
    lengths = [h.get("completions/mean_length") for h in hist if "completions/mean_length" in h]
    result = {"mode": "fast-subclass" if args.fast else "plain", "load_s": load_s, "step_time": step_times,
              "step_wall": step_walls, "completion_mean_length": lengths,
              "peak_memory_gib": (torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None),
              "prompt_tokens_hint": None}
    gen = getattr(trainer, "_sif_fast_generator", None)
    if gen is not None:
        result["fast_stats"] = gen.stats.as_dict()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "fast_stats"}))


if __name__ == "__main__":
    main()
