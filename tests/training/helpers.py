"""Small on-disk sample sets for the sif.training tests (RGB PNG, float16 depth .npy + colour PNG, valid chains)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from sif.depth.map import save_depth

CHAIN = ('<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n'
         '<text>The red cube is on the left.</text>\n<area>[{"bbox_2d":[0.100,0.200,0.400,0.700],"depth":0.250}]'
         '</area>\n<text>It is the nearest object.</text>\n</think>\n<answer>\nA\n</answer>')
BROKEN_CHAIN = CHAIN.replace("</think>", "")  # no closing think tag: breaks the grammar


def record(i: int, **overrides) -> dict:
    rec = {"id": f"s{i:03d}", "source": "test", "image": f"images/s{i:03d}.png", "depth": f"depth/s{i:03d}.npy",
           "question": "Which object is closer to the camera?", "answer": "A",
           "choices": ["the red cube", "the blue sphere"], "gt_boxes": [[0.1, 0.2, 0.4, 0.7]],
           "category": "relative_depth", "chain": CHAIN, "num_objects": 2}
    rec.update(overrides)
    return rec


def write_files(folder: Path, i: int, size: tuple[int, int] = (96, 64), depth_png: bool = True) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    w, h = size
    img = Image.new("RGB", size, (200, 30 + i, 30))
    img.paste((30, 200, 30), (w // 8, h // 4, w // 2, h - 4))
    img.save(folder / "images" / f"s{i:03d}.png")
    depth = np.tile(np.linspace(0.0, 1.0, w, dtype=np.float32), (h, 1))
    npy = folder / "depth" / f"s{i:03d}.npy"
    save_depth(depth, npy, npy.with_suffix(".png") if depth_png else None)


def write_samples(folder: Path, records: list[dict], make_files: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if make_files:
        for rec in records:
            write_files(folder, int(str(rec["id"])[1:]) if str(rec["id"])[1:].isdigit() else 0)
    path = folder / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
