"""Eval throughput: the batched hf backend vs a per-sample `generate` loop, same model, same output length.

Model: Qwen2.5-VL-3B ARCHITECTURE, random init, bf16, loaded from a from_pretrained folder by the hf backend
(`sif.eval.backends.hf`); requests = THE prompt with a 448x448 RGB + depth image; greedy; every call
decodes exactly `--new-tokens` tokens (EOS masked with min_new_tokens, on both sides).

  reference   one request at a time: `model.generate` on the backend's own inputs (dynamic cache)
  ours        backend.generate(requests), batch_size 8, backend.fast=true (sif.fastgen.FastGenerator)
  also        the same backend with fast=false (batched HF generate)

    python benchmarks/eval_throughput.py --out outputs/bench/eval_throughput.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log, random_images, row, write_result  # noqa: E402

NAME = "eval_throughput"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="outputs/bench/eval_throughput.json")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--loop-requests", type=int, default=6)
    ap.add_argument("--new-tokens", type=int, default=32)
    args = ap.parse_args()

    import torch

    from sif.config.evaluation import BackendConfig
    from sif.config.model import ModelConfig
    from sif.eval.backends.base import GenRequest, build_backend
    from sif.models.arch import save_arch_model

    work = Path(args.workdir or tempfile.mkdtemp(prefix="sif-eval-bench-"))
    model_dir = save_arch_model("qwen2_5_vl_3b", work / "qwen2_5_vl_3b", device="cuda")
    torch.cuda.empty_cache()
    model_cfg = ModelConfig(name="local", path=str(model_dir), dtype="bfloat16", max_pixels=262144)
    imgs = random_images(2 * args.requests, 448, 448, seed=3)
    qs = ["Which object is nearest to the camera?", "How many red cubes are there?",
          "Is the green cylinder behind the blue ball?", "What colour is the largest object?"]
    reqs = [GenRequest(id=f"q{i}", question=qs[i % 4], choices=["yes", "no"] if i % 2 else None,
                       images=[imgs[2 * i], imgs[2 * i + 1]]) for i in range(args.requests)]
    n = args.new_tokens
    results: dict = {"requests": args.requests, "new_tokens": n}

    def backend(fast: bool):
        b = build_backend(BackendConfig(name="hf", batch_size=8, max_new_tokens=n, fast=fast), model_cfg, work)
        b.generation_config.min_new_tokens = n  # same output length everywhere
        return b

    # ours: batched + fast
    b = backend(True)
    b.generate(reqs[:8])  # compile + capture once
    torch.cuda.synchronize()
    t = time.perf_counter()
    out_fast = b.generate(reqs)
    torch.cuda.synchronize()
    fast_s = time.perf_counter() - t
    fast_rate = len(reqs) / fast_s
    results["batched_fast"] = {"seconds": fast_s, "requests_per_s": fast_rate, "stats": b.fast.stats.as_dict()}
    log(NAME, f"batched hf backend, fast: {fast_rate:.2f} req/s ({fast_s:.2f}s for {len(reqs)})")

    # reference: one request at a time, plain generate (dynamic cache: no cache_implementation, which
    # backend.fast sets and which would make transformers compile and recompile per prompt length)
    import copy

    model = b.model
    gc = copy.deepcopy(b.generation_config)
    gc.cache_implementation = None
    results["reference_generation_config"] = {"cache_implementation": gc.cache_implementation,
                                              "min_new_tokens": gc.min_new_tokens, "max_new_tokens": gc.max_new_tokens}
    loop = reqs[:args.loop_requests]
    with torch.inference_mode():
        model.generate(**b._inputs(loop[:1]), generation_config=gc)
        torch.cuda.synchronize()
        t = time.perf_counter()
        singles = []
        for r in loop:
            inputs = b._inputs([r])
            toks = model.generate(**inputs, generation_config=gc)
            singles.append(toks.shape[1] - inputs["input_ids"].shape[1])
        torch.cuda.synchronize()
        loop_s = time.perf_counter() - t
    loop_rate = len(loop) / loop_s
    results["per_sample_loop"] = {"seconds": loop_s, "requests": len(loop), "requests_per_s": loop_rate,
                                  "new_tokens": singles}
    log(NAME, f"per-sample generate loop: {loop_rate:.2f} req/s ({loop_s:.2f}s for {len(loop)}), lengths {singles}")
    b.fast = None  # the same backend as fast=false: batched HF generate, dynamic cache
    b.generation_config = gc
    b.generate(reqs[:8])
    torch.cuda.synchronize()
    t = time.perf_counter()
    b.generate(reqs)
    torch.cuda.synchronize()
    plain_s = time.perf_counter() - t
    results["batched_plain"] = {"seconds": plain_s, "requests_per_s": len(reqs) / plain_s}
    log(NAME, f"batched hf backend, fast=false: {len(reqs) / plain_s:.2f} req/s")
    results["fast_outputs_nonempty"] = sum(1 for o in out_fast if o)
    rows = [
        row("eval requests/s, batched hf backend (fast=true, batch 8)", round(fast_rate, 2), round(loop_rate, 3),
            "per-sample generate loop", "req/s", target=">= 5x", threshold=5.0,
            note=f"{n} new tokens per request on both; batched fast=false: {len(reqs) / plain_s:.2f} req/s"),
        row("eval requests/s, batched hf backend (fast=false, batch 8)", round(len(reqs) / plain_s, 3),
            round(loop_rate, 3), "per-sample generate loop", "req/s"),
    ]
    write_result(args.out, NAME, results, rows)


if __name__ == "__main__":
    main()
