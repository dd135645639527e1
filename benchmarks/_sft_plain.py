"""A PLAIN TRL SFTTrainer script (the reference of sft_mfu.py): no SIF stage, trainer or dataset code.

Same model folder and samples as our sft stage run: prompt = THE prompt (RGB + depth colour image), completion
= the sample's chain, completion-only loss, cutoff 2048, bf16, LoRA on the language model's linears, gradient
checkpointing (non-reentrant), the same batch size and learning rate. Writes one JSON line per log event
({"time", "num_tokens", "step"}) - the same records our stage's metrics.jsonl holds - and the peak memory.

    python benchmarks/_sft_plain.py --model-dir D --samples S/samples.jsonl --steps 6 --out plain.json
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import datasets
    import torch
    from peft import LoraConfig
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from sif.prompt import build_messages

    samples = Path(args.samples)
    recs = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines() if line.strip()]
    base = samples.parent

    def transform(batch):
        out = {"prompt": [], "completion": [], "images": []}
        for q, c, chain, img, dep in zip(batch["question"], batch["choices"], batch["chain"], batch["image"],
                                         batch["depth"]):
            out["prompt"].append(build_messages(q, json.loads(c), with_depth=True))
            out["completion"].append([{"role": "assistant", "content": [{"type": "text", "text": chain}]}])
            out["images"].append([Image.open(base / img).convert("RGB"),
                                  Image.open((base / dep).with_suffix(".png")).convert("RGB")])
        return out

    need = args.steps * args.batch
    recs = (recs * (need // max(1, len(recs)) + 1))[:need]
    ds = datasets.Dataset.from_dict({"question": [r["question"] for r in recs],
                                     "choices": [json.dumps(r.get("choices")) for r in recs],
                                     "chain": [r["chain"] for r in recs], "image": [r["image"] for r in recs],
                                     "depth": [r["depth"] for r in recs]})
    ds.set_transform(transform)

    model = AutoModelForImageTextToText.from_pretrained(args.model_dir, dtype=torch.bfloat16, attn_implementation="sdpa")
    processor = AutoProcessor.from_pretrained(args.model_dir)
    for p in model.model.visual.parameters():
        p.requires_grad_(False)
    targets = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "visual" not in n.split(".")
               and not n.endswith("lm_head")]
    peft_config = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0, target_modules=targets,
                             task_type="CAUSAL_LM")
    cfg = SFTConfig(output_dir=str(Path(args.out).parent / "sft-plain"), per_device_train_batch_size=args.batch,
                    max_steps=args.steps, learning_rate=1e-4, logging_steps=1, save_strategy="no", report_to=[],
                    bf16=not CPU, gradient_checkpointing=not CPU, gradient_checkpointing_kwargs={"use_reentrant": False},
                    max_length=2048, completion_only_loss=True, remove_unused_columns=False, seed=42,
                    dataloader_num_workers=0)
    events: list[dict] = []

    class Log(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kw):
            events.append({"time": time.time(), "step": state.global_step, **(logs or {})})

    trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=processor, peft_config=peft_config,
                         callbacks=[Log()])
    torch.cuda.is_available() and torch.cuda.reset_peak_memory_stats()
    trainer.train()
    result = {"events": events, "peak_memory_gib": (torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None)}
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps({"peak_memory_gib": result["peak_memory_gib"], "events": len(events)}))


if __name__ == "__main__":
    main()
