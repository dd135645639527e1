"""Turn a synth_repro output folder (benchmarks/synth_repro.sh) into the results table and curves.

    python benchmarks/synth_repro_report.py outputs/repro --md docs/RESULTS_table.md --figs docs/figures

Arms: every eval run found (sft_arm/eval = SFT only, grpo_arm_eval = GRPO-SIF, any others, and a blind arm
trained on blank pictures when present: sft_arm/blind/eval), plus the image-blind control rows computed on the
same held-out questions (sif.eval.baselines): chance, the question-only prior, the majority answer, and the
per-category constant-box prior for the box columns. A model that looks must beat all of them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sif.eval.baselines import baselines, constant_box_prior

CATEGORIES = ["relative_depth", "left_right", "counting", "attribute"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def arm_row(results: dict) -> dict:
    agg = results.get("aggregate", results)
    row = {"overall": agg.get("overall")}
    row.update(agg.get("per_category", {}))
    for key in ("acc_at_iou", "mean_iou", "depth_consistency", "format_rate"):
        row[key] = agg.get(key)
    return row


def fmt(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}" if isinstance(v, float) else str(v)


def table(rows: dict[str, dict]) -> str:
    cols = ["overall", *CATEGORIES, "acc_at_iou", "mean_iou", "depth_consistency", "format_rate"]
    head = ["arm", "overall", "rel. depth", "left/right", "counting", "attribute", "Acc@0.5", "mean IoU",
            "depth cons.", "format"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        cells = [fmt(row.get(c)) if c != "mean_iou" else ("–" if row.get(c) is None else f"{row[c]:.3f}")
                 for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(accuracies, Acc@0.5, depth consistency and format rate in %; mean IoU in [0, 1])\n"


def curves(metrics: Path, out: Path, title: str, keys: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in read_jsonl(metrics) if "step" in r or "global_step" in r]
    present = [k for k in keys if any(k in r for r in recs)]
    if not present:
        return
    fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 2.8), dpi=110)
    axes = [axes] if len(present) == 1 else list(axes)
    for ax, key in zip(axes, present):
        pts = [(r.get("step", r.get("global_step")), r[key]) for r in recs if isinstance(r.get(key), (int, float))]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2)
        ax.set_title(key, fontsize=8)
        ax.set_xlabel("step", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--md", type=Path, default=None)
    ap.add_argument("--figs", type=Path, default=None)
    ap.add_argument("--prefix", default="repro", help="figure file names: PREFIX_sft_curves.png, ...")
    args = ap.parse_args()
    root = args.root
    gen = root / "sft_arm" / "generate"
    train, held_out = read_jsonl(gen / "train" / "samples.jsonl"), read_jsonl(gen / "eval" / "samples.jsonl")
    rows = baselines(train, held_out)
    box = constant_box_prior(train, held_out)
    rows["constant-box prior"] = {"acc_at_iou": box["acc_at_iou"]["overall"], "mean_iou": box["mean_iou"]["overall"]}
    arms = {"SFT only": root / "sft_arm" / "eval", "SFT + GRPO-SIF": root / "grpo_arm_eval",
            "blind control (SFT on blank pictures)": root / "sft_arm" / "blind" / "eval"}
    for folder in sorted(root.glob("grpo_*_eval")):  # the ablation arms of synth_repro_ablations.sh
        if folder.name != "grpo_arm_eval":
            arms["GRPO-SIF, " + folder.name[len("grpo_"):-len("_eval")].replace("_", " ")] = folder
    for name, folder in arms.items():
        if (folder / "results.json").exists():
            rows[name] = arm_row(json.loads((folder / "results.json").read_text()))
    text = table(rows)
    print(text)
    if args.md:
        args.md.write_text(text)
    if args.figs:
        sft_metrics = root / "sft_arm" / "sft" / "metrics.jsonl"
        if sft_metrics.exists():
            curves(sft_metrics, args.figs / f"{args.prefix}_sft_curves.png", "SFT", ["loss", "eval_loss", "mean_token_accuracy"])
        grpo_metrics = root / "grpo_arm" / "metrics.jsonl"
        if grpo_metrics.exists():
            curves(grpo_metrics, args.figs / f"{args.prefix}_grpo_curves.png", "GRPO-SIF",
                   ["reward", "rewards/format/mean", "rewards/answer_progress/mean", "rewards/box_iou_progress/mean",
                    "rewards/depth_consistency/mean", "kl", "completions/mean_length"])


if __name__ == "__main__":
    main()
