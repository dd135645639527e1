"""The image-blind control rows of a synthetic train / held-out split, without training anything (issue 14).

Renders the same scenes `stage=generate dataset=synth` writes (sif.data.sources.synth.synth_item: same seed,
same indices, same questions) and scores, with sif.eval.baselines, uniform chance, the question-only prior,
the majority answer and the per-category constant-box prior on the held-out scenes. docs/RESULTS.md quotes
these rows beside the models trained on the same splits.

    python benchmarks/synth_controls.py --seed 42 --train 8000 --eval 500 --out benchmarks/results/controls_repro_seed42.json
    python benchmarks/synth_controls.py --seed 42 --train 1500 --eval 100 --width 160 --height 120   # CI's split
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _record(args: tuple) -> dict:
    from sif.data.sources.synth import synth_item

    index, seed, split, params = args
    it = synth_item(index, seed, split, params)
    return {"question": it.question, "answer": it.answer, "answer_text": it.answer_text, "choices": it.choices,
            "category": it.category, "gt_boxes": [list(b) for b in it.gt_boxes]}


def main() -> None:
    from sif.data.scenes import SceneParams
    from sif.eval.baselines import baselines, constant_box_prior

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--eval", type=int, default=500)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    params = SceneParams(width=args.width, height=args.height)
    jobs = [(i, args.seed, "train", params) for i in range(args.train)] + \
           [(i, args.seed, "eval", params) for i in range(args.eval)]
    with Pool(max(1, args.workers)) as pool:
        records = pool.map(_record, jobs, chunksize=32)
    train, held_out = records[:args.train], records[args.train:]
    rows = baselines(train, held_out)
    box = constant_box_prior(train, held_out)
    counts: dict[str, int] = {}
    for r in held_out:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    result = {"command": " ".join(sys.argv), "settings": vars(args) | {"out": str(args.out)},
              "held_out_per_category": counts, "rows": rows, "constant_box_prior": box}
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    for name, values in rows.items():
        cats = ", ".join(f"{k} {v:.3f}" for k, v in sorted(values.items()) if k != "overall")
        print(f"{name:22s} overall {values['overall']:.3f} ({cats})")
    print(f"{'constant-box prior':22s} mean IoU {box['mean_iou']['overall']:.3f}, Acc@0.5 {box['acc_at_iou']['overall']:.3f}, "
          f"R^2 x {box['r2_x']:.3f}, y {box['r2_y']:.3f}")


if __name__ == "__main__":
    main()
