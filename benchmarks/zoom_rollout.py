"""What active zoom costs in a rollout: multi-turn zoom rollouts (the engine of rollout=zoom with zoom.fast)
against single-turn rollouts of the same token budget through the same fast path, same model, prompts and run.

A random-init model writes no areas, so each row's FIRST area is scripted (one fixed area text, the same in
every row: a stand-in for a policy that zooms once at the start of its chain, stated in the result); all the
rest is the real code path - the crop and its depth crop, the inserted turn, its prefill (the vision tower
on the crops, the turn's tokens) and the decoding after it. Figures, median of --repeat timed calls a side:
seconds per rollout of `rows` rows, and model tokens per second (inserted turns not counted).

    python benchmarks/zoom_rollout.py --out outputs/bench/zoom_rollout.json            # GPU, 3B architecture
    python benchmarks/zoom_rollout.py --tiny --rows 2 --budget 400 --repeat 1 --out /tmp/z.json   # CPU smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log, random_images, row, write_result  # noqa: E402

NAME = "zoom_rollout"
AREA = '<think><area>[{"bbox_2d":[0.3,0.3,0.6,0.6],"depth":0.5}]</area>'


class FirstAreaScripted:
    """Rows with an empty completion get AREA's tokens (the scripted first area); later rounds generate."""

    def __init__(self, inner, area_ids: list[int], prompt_lens: set[int]) -> None:
        self.inner, self.area_ids, self.prompt_lens = inner, area_ids, prompt_lens

    def __call__(self, rows, images, budget, stop_at_area):
        if all(len(r) in self.prompt_lens for r in rows):
            return [list(self.area_ids[:budget]) for _ in rows]
        return self.inner(rows, images, budget, stop_at_area)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="outputs/bench/zoom_rollout.json")
    ap.add_argument("--arch", default="qwen2_5_vl_3b")
    ap.add_argument("--tiny", action="store_true", help="the tiny model on the CPU (a smoke test, no figures)")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--budget", type=int, default=512,
                    help="completion tokens per row, inserted turns included (the crop turn must fit in it)")
    ap.add_argument("--picture", type=int, default=896, help="picture width (height 3/4 of it)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import torch
    from transformers import GenerationConfig

    from sif.fastgen import FastGenerator
    from sif.prompt import build_messages
    from sif.zoom.crop import ZoomSettings
    from sif.zoom.hf_step import FastStepGenerator
    from sif.zoom.rollout import Trajectory, ZoomRolloutSettings, run_zoom_rollout

    if args.tiny:
        from sif.config.model import ModelConfig
        from sif.models.factory import load_model_and_processor

        model, processor = load_model_and_processor(ModelConfig(name="tiny"), Path(".cache/sif-bench"))
    else:
        from sif.models.arch import build_arch_model

        model, processor = build_arch_model(args.arch, device="cuda", dtype="bfloat16")
    model.eval()
    dev = next(model.parameters()).device
    tok = processor.tokenizer
    tok.padding_side = "left"
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    config = GenerationConfig(max_new_tokens=args.budget, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                              eos_token_id=[eos], pad_token_id=tok.pad_token_id)
    w, h = args.picture, args.picture * 3 // 4
    pics = random_images(2 * args.rows, w, h, 0)
    texts = [processor.apply_chat_template(build_messages("Which object is nearest to the camera?"),
                                           tokenize=False, add_generation_prompt=True) for _ in range(args.rows)]
    prompt_ids = [[int(t) for t in processor(text=[texts[i]], images=pics[2 * i:2 * i + 2])["input_ids"][0]]
                  for i in range(args.rows)]
    fast = FastGenerator(model, processor, {"compile": not args.tiny})
    area_ids = tok(AREA, add_special_tokens=False)["input_ids"]
    settings = ZoomRolloutSettings(crop=ZoomSettings(), max_zooms=1, max_new_tokens=args.budget, with_depth=True,
                                   fast=True)

    def zoom_call() -> tuple[float, int, float]:
        trajs = [Trajectory(prompt_ids=list(p), images=list(pics[2 * i:2 * i + 2]), rgb=pics[2 * i],
                            depth=pics[2 * i + 1]) for i, p in enumerate(prompt_ids)]
        step = FirstAreaScripted(FastStepGenerator(model, processor, config, fast), area_ids,
                                 {len(p) for p in prompt_ids})
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        run_zoom_rollout(trajs, step, processor, settings, [eos])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t, sum(sum(t.mask) for t in trajs), statistics.mean(t.zooms for t in trajs)

    def plain_call() -> tuple[float, int]:
        batch = FastStepGenerator(model, processor, config, fast).inputs(prompt_ids, [pics[2 * i:2 * i + 2]
                                                                                     for i in range(args.rows)])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fast.generate(**batch, generation_config=config, model=model)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        new = out[:, batch["input_ids"].shape[1]:]
        return time.perf_counter() - t, int((new != tok.pad_token_id).sum())

    torch.manual_seed(0)
    warm_zoom, warm_plain = zoom_call(), plain_call()  # compile, capture and bucket engines on both sides
    zoom_runs = [zoom_call() for _ in range(args.repeat)]
    plain_runs = [plain_call() for _ in range(args.repeat)]
    if any(r[2] != 1 for r in zoom_runs):
        raise SystemExit(f"{NAME}: a row did not zoom (zooms per row {[r[2] for r in zoom_runs]}): the inserted "
                         f"turn does not fit in --budget {args.budget}; raise it")
    z_s = statistics.median(r[0] for r in zoom_runs)
    p_s = statistics.median(r[0] for r in plain_runs)
    z_tok = statistics.median(r[1] / r[0] for r in zoom_runs)
    p_tok = statistics.median(r[1] / r[0] for r in plain_runs)
    results = {"rows": args.rows, "budget": args.budget, "picture": [w, h], "arch": "tiny" if args.tiny else args.arch,
               "scripted_first_area": AREA, "zooms_per_row": zoom_runs[0][2],
               "zoom": {"seconds": [r[0] for r in zoom_runs], "model_tokens": [r[1] for r in zoom_runs],
                        "first_call_s": warm_zoom[0]},
               "plain": {"seconds": [r[0] for r in plain_runs], "tokens": [r[1] for r in plain_runs],
                         "first_call_s": warm_plain[0]}, "fast_stats": fast.stats.as_dict()}
    note = (f"{args.rows} rows x {args.budget} tokens, {w}x{h} RGB + depth pictures; zoom: the first area "
            f"scripted, 1 zoom per row (crop + depth crop), then generated; medians of {args.repeat} calls")
    rows = [row("rollout seconds, zoom=1 turn vs single-turn (same budget)", round(z_s, 3), round(p_s, 3),
                "rollout=hf_fast, no zoom", "s", higher_is_better=False, note=note),
            row("model tokens/s, zoom vs single-turn", round(z_tok, 1), round(p_tok, 1), "rollout=hf_fast, no zoom",
                "tok/s", note="inserted turns not counted")]
    log(NAME, f"zoom {z_s:.2f} s ({z_tok:.0f} tok/s) vs plain {p_s:.2f} s ({p_tok:.0f} tok/s)")
    write_result(args.out, NAME, results, rows)


if __name__ == "__main__":
    main()
