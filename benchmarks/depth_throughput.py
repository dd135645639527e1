"""Depth generation throughput: our provider vs the transformers pipeline vs the model alone, same run.

Model: Depth Anything V2 Small ARCHITECTURE, random init (sif.models.arch.build_depth_arch), fp16; inputs:
N 640x480 JPEG files on disk (smooth random pictures). Measured, one after the other in one process:

  pipeline, image by image        pipe(image) per image (the 29.5 img/s reference of ENVIRONMENT.md)
  ours, preprocess=pipeline       the pipeline fed a Dataset of paths, batch_size + num_workers (decode and
                                  the processor's resize/normalise in DataLoader workers)
  ours, preprocess=gpu            decode in workers; resize/normalise/post-resize/min-max on the GPU
  ours, preprocess=gpu + files    the same, writing float16 .npy + colour .png asynchronously (thread pool)
  model only                      forward on already-preprocessed batches already on the GPU (the ceiling)

    python benchmarks/depth_throughput.py --out outputs/bench/depth_throughput.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import log, random_images, row, write_result  # noqa: E402

NAME = "depth_throughput"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="outputs/bench/depth_throughput.json")
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--pipeline-images", type=int, default=384, help="images for the (slow) preprocess=pipeline run")
    ap.add_argument("--single", type=int, default=48, help="images for the image-by-image reference")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=max(2, min(8, (os.cpu_count() or 4) // 2)))
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation, pipeline

    from sif.config.data import DepthConfig
    from sif.depth import build_depth_provider
    from sif.models.arch import build_depth_arch

    work = Path(args.workdir or tempfile.mkdtemp(prefix="sif-depth-bench-"))
    model_dir = build_depth_arch(work / "da-v2-small")
    img_dir = work / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    pics = random_images(64, 640, 480, seed=1)
    paths = []
    for i in range(args.images):
        p = img_dir / f"{i:05d}.jpg"
        if not p.is_file():
            (pics[i % len(pics)] if (i // len(pics)) % 2 == 0 else pics[i % len(pics)].transpose(Image.Transpose.FLIP_LEFT_RIGHT)).save(p, quality=90)
        paths.append(str(p))
    log(NAME, f"{len(paths)} images 640x480 in {img_dir}; model {model_dir}; {args.workers} workers")
    results: dict = {"images": len(paths), "batch_size": args.batch, "workers": args.workers, "variants": {}}

    def timed(name: str, fn, n: int) -> float:
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        rate = n / (time.perf_counter() - t)
        results["variants"][name] = {"img_s": rate, "images": n}
        log(NAME, f"{name}: {rate:.1f} img/s")
        return rate

    # 1. the pipeline, image by image (PIL images already decoded)
    pil = [Image.open(p).convert("RGB") for p in paths[:args.single]]
    pipe = pipeline("depth-estimation", model=str(model_dir), device="cuda", dtype=torch.float16)
    for img in pil[:4]:
        pipe(img)
    single = timed("pipeline, image by image", lambda: [pipe(img) for img in pil], len(pil))
    batched = timed("pipeline, list, batch_size", lambda: pipe(pil, batch_size=args.batch), len(pil))
    del pipe

    # 2. ours, both preprocess modes
    def provider(mode: str):
        return build_depth_provider(DepthConfig(name="depth_anything_v2", model=str(model_dir), device="cuda",
                                                dtype="float16", batch_size=args.batch, num_workers=args.workers,
                                                preprocess=mode))

    rates = {}
    for mode in ("pipeline", "gpu"):
        prov = provider(mode)
        subset = paths[:args.pipeline_images] if mode == "pipeline" else paths
        list(prov.predict_iter(paths[:2 * args.batch]))  # load + warm up
        rates[mode] = timed(f"ours, preprocess={mode}, paths in, maps out",
                            lambda: sum(1 for _ in prov.predict_iter(subset)), len(subset))
    prov = provider("gpu")
    prov.predict_to_files(paths[:2 * args.batch], [work / "warm" / f"{i}.npy" for i in range(2 * args.batch)])
    out_dir = work / "out"
    outs = [out_dir / f"{i:05d}.npy" for i in range(len(paths))]
    files = timed("ours, preprocess=gpu, paths in, .npy + .png written", lambda: prov.predict_to_files(paths, outs),
                  len(paths))

    # where the rest goes: the decode workers alone (no model), and our GPU path fed one pinned batch (no loader)
    from torch.utils.data import DataLoader

    from sif.depth.providers import _emit, _image_dataset, _stack_u8, dpt_resize_shape

    loader = DataLoader(_image_dataset(paths, decode=True), batch_size=args.batch, num_workers=args.workers,
                        collate_fn=_stack_u8, pin_memory=True, prefetch_factor=4)
    timed("decode workers alone (paths -> pinned uint8 batches)", lambda: sum(1 for _ in loader), len(paths))
    gpu_model, aux = prov._gpu_model()
    u8 = _stack_u8([torch.from_numpy(np.asarray(p, dtype=np.uint8).copy()) for p in pil[:args.batch]]).pin_memory()
    target = dpt_resize_shape(aux["proc"], 480, 640)

    def gpu_path_only():
        pending = None
        for _ in range(max(1, len(paths) // args.batch)):
            maps = prov._gpu_forward(gpu_model, aux, u8, target, (480, 640))
            if pending is not None:
                sum(1 for _ in _emit(*pending))
            pending = (list(range(args.batch)), maps)
        sum(1 for _ in _emit(*pending))

    timed("ours, preprocess=gpu, one pinned batch re-fed (no loader)", gpu_path_only,
          max(1, len(paths) // args.batch) * args.batch)
    # 3. the model alone on preprocessed batches already on the GPU
    model = AutoModelForDepthEstimation.from_pretrained(str(model_dir), dtype=torch.float16).cuda().eval()
    proc = AutoImageProcessor.from_pretrained(str(model_dir))
    batch = proc(images=pil[:args.batch], return_tensors="pt")["pixel_values"].to("cuda", torch.float16)
    results["model_input_shape"] = list(batch.shape)
    n_batches = max(1, len(paths) // args.batch)
    with torch.inference_mode():
        for _ in range(3):
            model(pixel_values=batch)
        model_only = timed("model only (preprocessed batches on the GPU)",
                           lambda: [model(pixel_values=batch).predicted_depth for _ in range(n_batches)],
                           n_batches * args.batch)

    best_mode = max(rates, key=rates.get)
    results["best_mode"] = best_mode
    rows = [
        row("depth img/s, ours (preprocess=gpu) vs model only", round(rates["gpu"], 1), round(model_only, 1),
            "model only, preprocessed batches", "img/s", target=">= 0.7x model only", threshold=0.7),
        row("depth img/s, ours (preprocess=gpu, .npy+.png written async) vs model only", round(files, 1),
            round(model_only, 1), "model only, preprocessed batches", "img/s", target=">= 0.7x model only",
            threshold=0.7),
        row("depth img/s, ours (preprocess=pipeline: dataset + workers) vs model only", round(rates["pipeline"], 1),
            round(model_only, 1), "model only, preprocessed batches", "img/s"),
        row("depth img/s, ours (preprocess=gpu) vs pipeline image by image", round(rates["gpu"], 1), round(single, 1),
            "pipeline, image by image", "img/s", note=f"pipeline with a list and batch_size: {batched:.1f} img/s"),
    ]
    write_result(args.out, NAME, results, rows)
    _ = np


if __name__ == "__main__":
    main()
