"""The vision tower: model.vision_attention=batched (ours) vs transformers' per-window loop, IN THE SAME RUN.

Qwen2.5-VL-3B ARCHITECTURE (random init, bf16, sdpa), 16 pictures of 448x448 (a GRPO step's 8 rows x RGB +
depth), forward only and forward+backward (the tower trainable), median of 5 after a warm-up. The features
of both are compared (they must agree to bf16 rounding) and reported.

    python benchmarks/vision_tower.py --out outputs/bench/vision_tower.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cuda_time, log, random_images, row, write_result  # noqa: E402

NAME = "vision_tower"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="outputs/bench/vision_tower.json")
    ap.add_argument("--pictures", type=int, default=16)
    ap.add_argument("--size", type=int, default=448)
    args = ap.parse_args()

    import torch

    from sif.models.arch import build_arch_model
    from sif.models.vision_attention import batch_vision_attention, restore_vision_attention

    model, processor = build_arch_model("qwen2_5_vl_3b")
    visual = model.model.visual
    enc = processor.image_processor(images=random_images(args.pictures, args.size, args.size, 0), return_tensors="pt")
    pixels, grid = enc["pixel_values"].to("cuda", torch.bfloat16), enc["image_grid_thw"].to("cuda")

    def features():
        out = visual(pixels, grid_thw=grid)
        return out.pooler_output if hasattr(out, "pooler_output") else out

    def fwd():
        with torch.no_grad():
            features()

    def fwd_bwd():
        visual.zero_grad(set_to_none=True)
        features().float().pow(2).mean().backward()

    results, timings = {}, {}
    for mode in ("library", "batched"):
        if mode == "batched":
            assert batch_vision_attention(visual) > 0
        with torch.no_grad():
            results[mode] = features().float()
        timings[mode] = {"forward_s": statistics.median(cuda_time(fwd, warmup=2, repeat=5)),
                         "forward_backward_s": statistics.median(cuda_time(fwd_bwd, warmup=1, repeat=5))}
        log(NAME, f"{mode}: {timings[mode]}")
    restore_vision_attention(visual)
    diff = (results["batched"] - results["library"]).abs()
    scale = results["library"].abs().mean().item()
    agreement = {"max_abs_diff": diff.max().item(), "mean_abs_diff": diff.mean().item(), "mean_abs_value": scale}
    log(NAME, f"agreement: {agreement}")
    what = f"{args.pictures} pictures of {args.size}px, 3B arch vision tower, bf16"
    rows = [row(f"vision tower forward, {what}", timings["batched"]["forward_s"], timings["library"]["forward_s"],
                "transformers' per-window loop", "s", higher_is_better=False, note="ratio = speed-up"),
            row(f"vision tower forward+backward, {what}", timings["batched"]["forward_backward_s"],
                timings["library"]["forward_backward_s"], "transformers' per-window loop", "s",
                higher_is_better=False, note="ratio = speed-up")]
    write_result(args.out, NAME, {"timings": timings, "agreement": agreement,
                                  "grid_thw": grid[0].tolist(), "pictures": args.pictures}, rows)


if __name__ == "__main__":
    main()
