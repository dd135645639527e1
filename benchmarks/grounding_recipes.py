"""Which recipe lets a from-scratch tiny Qwen2.5-VL ground objects? A fast research loop (issue 14).

Each *recipe* trains a fresh model (the `tiny` builder, loaded through sif.models.factory.load_model, so the
position channel of sif.models.positions applies) on "Where is the <object>?" -> "[x1,y1,x2,y2]" over
synthetic scenes (sif.data.scenes), with a plain PyTorch loop instead of TRL so that many recipes fit into one
GPU call, and evaluates greedy answers on 200 held-out scenes: per-axis R^2 of the box centre, mean IoU and
Acc@0.5 (IoU > 0.5, as the eval scorer), beside the mean-box prior of the same scenes. The CI probe and the
learning tests run the real stages (`experiment=grounding_probe`, `experiment=synth_repro_cpu`); this script
only ranks recipes, and its numbers are the ones docs/RESULTS.md quotes for that ranking.

    python benchmarks/grounding_recipes.py --list
    python benchmarks/grounding_recipes.py --run single_chunked,single_interleaved --out results.json
    python benchmarks/grounding_recipes.py --one named_qfirst --steps 500          # one recipe in this process

`--run` starts one process per recipe, `--jobs` at a time (on a CPU: one per core). Measured on one GPU, 18 tiny
processes at once were slower per step than a CPU core each: time-slicing, so keep GPU jobs few.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Recipe:
    mrope_layout: str = "interleaved"  # chunked | interleaved
    vision_position: str = "sincos2d"  # none | sincos2d
    min_objects: int = 1
    max_objects: int = 1
    single_fraction: float = 0.0  # share of training scenes with one object (a curriculum mix)
    name: str = "full"  # full ("red cube") | color ("red object", a colour unique in the scene)
    question_first: bool = False  # the question before the picture in the user turn
    blank: bool = False  # the blind control: every picture replaced by mid-grey
    width: int = 160
    height: int = 120
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    vision_hidden: int = 64
    vision_depth: int = 2
    lr: float = 2e-3
    weight_decay: float = 0.0
    palette: tuple = ()  # restrict the scene colours (a sanity check of binding: two colours, one bit)
    # dense captions ("Describe the objects from left to right." -> "red cube [box]; blue sphere [box]"): the
    # name is read off the features at a place (one hop) rather than a place found from a name; the first
    # `caption_steps` steps are captions only, then `caption_fraction` of the batches stay captions
    caption_steps: int = 0
    caption_fraction: float = 0.0
    batch: int = 16
    steps: int = 1500
    pool: int = 4000  # training scenes (drawn with replacement)
    seed: int = 0
    notes: str = ""
    extra: dict = field(default_factory=dict)


BASE = Recipe()
RECIPES: dict[str, Recipe] = {
    # the probe of issue 14: one object, "Where is the X?"
    "single_chunked": replace(BASE, mrope_layout="chunked", vision_position="none"),
    "single_interleaved": replace(BASE, vision_position="none"),
    "single_interleaved_sincos": BASE,
    "single_blank": replace(BASE, blank=True),
    # named objects among 2-4
    "named": replace(BASE, min_objects=2, max_objects=4, steps=3000),
    "named_chunked": replace(BASE, min_objects=2, max_objects=4, steps=3000, mrope_layout="chunked",
                             vision_position="none"),
    "named_qfirst": replace(BASE, min_objects=2, max_objects=4, steps=3000, question_first=True),
    "named_color": replace(BASE, min_objects=2, max_objects=4, steps=3000, name="color"),
    "named_mix": replace(BASE, min_objects=2, max_objects=4, steps=3000, single_fraction=0.5),
    "named_qfirst_mix": replace(BASE, min_objects=2, max_objects=4, steps=3000, single_fraction=0.5,
                                question_first=True),
    "named_wide": replace(BASE, min_objects=2, max_objects=4, steps=3000, hidden=256, layers=4,
                          vision_hidden=128, vision_depth=4),
    "named_qfirst_wide": replace(BASE, min_objects=2, max_objects=4, steps=3000, hidden=256, layers=4,
                                 vision_hidden=128, vision_depth=4, question_first=True),
    "named_320": replace(BASE, min_objects=2, max_objects=4, steps=3000, width=320, height=240),
    "named_qfirst_320": replace(BASE, min_objects=2, max_objects=4, steps=3000, width=320, height=240,
                                question_first=True),
    "named_lr1e-3": replace(BASE, min_objects=2, max_objects=4, steps=3000, lr=1e-3),
    "named_lr4e-3": replace(BASE, min_objects=2, max_objects=4, steps=3000, lr=4e-3),
    "named_two": replace(BASE, min_objects=2, max_objects=2, steps=3000),
    "named_blank": replace(BASE, min_objects=2, max_objects=4, steps=3000, blank=True),
    "named_fresh": replace(BASE, min_objects=2, max_objects=4, steps=3000, pool=30000),
    "named_wd": replace(BASE, min_objects=2, max_objects=4, steps=3000, weight_decay=0.1),
    "two_colours": replace(BASE, min_objects=2, max_objects=2, name="color", palette=("red", "blue")),
    "two_colours_qfirst": replace(BASE, min_objects=2, max_objects=2, name="color", palette=("red", "blue"),
                                  question_first=True),
    "caption_then_named": replace(BASE, min_objects=2, max_objects=4, steps=3000, caption_steps=1500),
    "caption_mix_named": replace(BASE, min_objects=2, max_objects=4, steps=3000, caption_fraction=0.5),
    "single_patch_code_only": replace(BASE, extra={"patch_code_only": True}),
    "single_demo_size": replace(BASE, hidden=64, vision_hidden=32),  # model=tiny's default sizes (the demo)
}


# ---- data ------------------------------------------------------------------------------------------------
def _box_text(box) -> str:
    return "[" + ",".join(f"{v:.3f}" for v in box) + "]"


class Samples:
    def __init__(self, recipe: Recipe, processor) -> None:
        from sif.data.scenes import SceneParams

        self.r, self.proc = recipe, processor
        kinds = ("counting",) if recipe.max_objects == 1 else ("left_right",)
        self.multi = SceneParams(width=recipe.width, height=recipe.height, min_objects=recipe.min_objects,
                                 max_objects=recipe.max_objects, question_types=kinds)
        self.single = SceneParams(width=recipe.width, height=recipe.height, min_objects=1, max_objects=1,
                                  question_types=("counting",))

    def caption(self, index: int) -> dict:
        """Every object of a training scene, left to right, each with its box."""
        import numpy as np
        from PIL import Image

        from sif.data.scenes import render_scene

        scene = render_scene(index + 20_000_000, self.r.seed, self.multi)
        objs = sorted(scene.objects, key=lambda o: (o.box[0] + o.box[2]) / 2)
        text = "; ".join(f"{o.name} {_box_text(o.box)}" for o in objs)
        rgb = np.full_like(scene.rgb, 128) if self.r.blank else scene.rgb
        parts = [{"type": "image"}, {"type": "text", "text": "Describe the objects from left to right."}]
        prompt = self.proc.apply_chat_template([{"role": "user", "content": parts}], add_generation_prompt=True)
        return self._encode(prompt, rgb, text, list(objs[0].box))

    def _encode(self, prompt: str, rgb, answer_text: str, box: list) -> dict:
        import torch
        from PIL import Image

        enc = self.proc(text=[prompt], images=[Image.fromarray(rgb)], return_tensors="pt")
        answer = self.proc.tokenizer(answer_text + "<|im_end|>", add_special_tokens=False)["input_ids"]
        mm = enc.get("mm_token_type_ids")
        return {"ids": enc["input_ids"][0], "mm": None if mm is None else mm[0], "pixels": enc["pixel_values"],
                "grid": enc["image_grid_thw"], "answer": torch.tensor(answer), "box": box}

    def make(self, index: int, held_out: bool) -> dict:
        import numpy as np
        import torch
        from PIL import Image

        from sif.data.scenes import render_scene

        rng = np.random.default_rng([self.r.seed, index, int(held_out)])
        single = (not held_out) and rng.random() < self.r.single_fraction
        scene = render_scene(index + (10_000_000 if held_out else 0), self.r.seed, self.single if single else self.multi)
        candidates = list(range(len(scene.objects)))
        if self.r.name == "color":
            colors = [o.color for o in scene.objects]
            candidates = [i for i in candidates if colors.count(colors[i]) == 1] or candidates
        obj = scene.objects[candidates[int(rng.integers(len(candidates)))]]
        question = f"Where is the {obj.color} object?" if self.r.name == "color" else f"Where is the {obj.name}?"
        rgb = np.full_like(scene.rgb, 128) if self.r.blank else scene.rgb
        parts = [{"type": "image"}, {"type": "text", "text": question}]
        if self.r.question_first:
            parts.reverse()
        prompt = self.proc.apply_chat_template([{"role": "user", "content": parts}], add_generation_prompt=True)
        enc = self.proc(text=[prompt], images=[Image.fromarray(rgb)], return_tensors="pt")
        answer = self.proc.tokenizer(_box_text(obj.box) + "<|im_end|>", add_special_tokens=False)["input_ids"]
        mm = enc.get("mm_token_type_ids")
        return {"ids": enc["input_ids"][0], "mm": None if mm is None else mm[0], "pixels": enc["pixel_values"],
                "grid": enc["image_grid_thw"], "answer": torch.tensor(answer), "box": list(obj.box)}


def collate(items: list[dict], pad: int, with_answer: bool):
    import torch

    seqs = [torch.cat([it["ids"], it["answer"]]) if with_answer else it["ids"] for it in items]
    length = max(len(s) for s in seqs)
    ids = torch.full((len(items), length), pad)
    mask, labels, mm = torch.zeros_like(ids), torch.full_like(ids, -100), torch.zeros_like(ids)
    for i, (it, s) in enumerate(zip(items, seqs)):
        ids[i, length - len(s):], mask[i, length - len(s):] = s, 1  # left padding (generation reads the end)
        if it["mm"] is not None:
            mm[i, length - len(s):length - len(s) + len(it["mm"])] = it["mm"]
        if with_answer:
            labels[i, length - len(it["answer"]):] = it["answer"]
    batch = {"input_ids": ids, "attention_mask": mask, "pixel_values": torch.cat([it["pixels"] for it in items]),
             "image_grid_thw": torch.cat([it["grid"] for it in items])}
    if items[0]["mm"] is not None:
        batch["mm_token_type_ids"] = mm
    if with_answer:
        batch["labels"] = labels
    return batch


# ---- metrics ---------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_box(text: str):
    nums = [float(x) for x in _NUMBER.findall(text)[:4]]
    return nums if len(nums) == 4 else None


def grounding_metrics(preds: list, truths: list) -> dict:
    """R^2 of box centres per axis (coordinates clipped to the picture; a missing box counts as its centre),
    mean IoU, Acc@0.5."""
    import numpy as np

    from sif.geometry import iou

    ious = [iou(p, t) if p is not None else 0.0 for p, t in zip(preds, truths)]
    clipped = [[min(max(v, 0.0), 1.0) for v in p] if p is not None else None for p in preds]
    centre = [((p[0] + p[2]) / 2, (p[1] + p[3]) / 2) if p is not None else (0.5, 0.5) for p in clipped]
    true = [((t[0] + t[2]) / 2, (t[1] + t[3]) / 2) for t in truths]
    out = {"mean_iou": float(np.mean(ious)), "acc_at_0.5": float(np.mean([v > 0.5 for v in ious])),
           "parsed": float(np.mean([p is not None for p in preds]))}
    for axis, name in ((0, "r2_x"), (1, "r2_y")):
        y = np.array([c[axis] for c in true])
        f = np.array([c[axis] for c in centre])
        out[name] = float(1 - ((f - y) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12))
    return out


# ---- one recipe ------------------------------------------------------------------------------------------
def run_one(name: str, recipe: Recipe, eval_every: int, held_out: int, device: str, out: Path | None = None) -> dict:
    import numpy as np
    import torch

    from sif.config.model import ModelConfig, TinyModelConfig
    from sif.models.factory import load_model, load_processor
    from sif.models.tiny import build_tiny_model

    torch.manual_seed(recipe.seed)
    if recipe.palette:
        import sif.data.scenes as scenes

        scenes.COLORS = {c: scenes.COLORS[c] for c in recipe.palette}
    tiny = TinyModelConfig(hidden_size=recipe.hidden, intermediate_size=2 * recipe.hidden,
                           num_hidden_layers=recipe.layers, num_attention_heads=recipe.heads,
                           num_key_value_heads=max(1, recipe.heads // 2), vision_hidden_size=recipe.vision_hidden,
                           vision_intermediate_size=2 * recipe.vision_hidden, vision_depth=recipe.vision_depth,
                           mrope_layout=recipe.mrope_layout, vision_position=recipe.vision_position, seed=recipe.seed)
    model_cfg = ModelConfig(name="tiny", dtype="float32", max_pixels=recipe.width * recipe.height, min_pixels=3136,
                            freeze_vision=False, freeze_merger=False, tiny=tiny)
    cache = Path(os.environ.get("SIF_RECIPE_CACHE", ROOT / ".cache" / "recipes"))
    path = build_tiny_model(tiny, cache)
    processor = load_processor(str(path), model_cfg)
    model = load_model(str(path), model_cfg, training=True).to(device)
    if recipe.extra.get("patch_code_only"):  # the measurement behind sif.models.positions' second code
        _drop_merged_code(model)
    pad = processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    started = time.time()
    data = Samples(recipe, processor)
    pool = [data.make(i, False) for i in range(recipe.pool)]
    captions = ([data.caption(i) for i in range(recipe.pool)]
                if recipe.caption_steps or recipe.caption_fraction else [])
    evals = [data.make(i, True) for i in range(held_out)]
    prep_s = time.time() - started
    mean_box = np.mean([it["box"] for it in pool], axis=0).tolist()
    prior = grounding_metrics([mean_box] * len(evals), [it["box"] for it in evals])

    def to_device(batch):
        return {k: v.to(device) for k, v in batch.items()}

    def evaluate() -> dict:
        model.eval()
        preds = []
        with torch.no_grad():
            for k in range(0, len(evals), 100):
                items = evals[k:k + 100]
                batch = to_device(collate(items, pad, with_answer=False))
                out = model.generate(**batch, max_new_tokens=32, do_sample=False, pad_token_id=pad)
                width = batch["input_ids"].shape[1]
                preds += [parse_box(processor.tokenizer.decode(o[width:], skip_special_tokens=True)) for o in out]
        model.train()
        return grounding_metrics(preds, [it["box"] for it in evals])

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr,
                            weight_decay=recipe.weight_decay)
    warmup = max(1, recipe.steps // 50)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, recipe.steps) / recipe.steps)))
    rng = np.random.default_rng(recipe.seed)
    curve, losses, train_started = [], [], time.time()
    model.train()
    for step in range(1, recipe.steps + 1):
        use_captions = captions and (step <= recipe.caption_steps or rng.random() < recipe.caption_fraction)
        source = captions if use_captions else pool
        batch = to_device(collate([source[i] for i in rng.integers(len(source), size=recipe.batch)], pad, True))
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
        if step % eval_every == 0 or step == recipe.steps:
            point = {"step": step, "seconds": round(time.time() - train_started, 1),
                     "loss": float(np.mean(losses[-50:])), **evaluate()}
            curve.append(point)
            print(name, json.dumps(point), flush=True)
            result = {"recipe": name, "config": asdict(recipe), "device": device, "prep_seconds": round(prep_s, 1),
                      "mean_box_prior": prior, "curve": curve, "final": curve[-1], "finished": step == recipe.steps}
            if out is not None:  # written at every evaluation: a run cut off by a time limit keeps its curve
                out.write_text(json.dumps(result, indent=1) + "\n")
    return result


def _drop_merged_code(model) -> None:
    """Experiment: the vision position code at the patch level only (without the merged-token code)."""
    import sif.models.positions as positions

    positions.merged_code = lambda grid, dim, merge: grid.new_zeros((int((grid[:, 0] * grid[:, 1] * grid[:, 2]).sum())
                                                                      // merge ** 2, dim), dtype=torch_float())


def torch_float():
    import torch

    return torch.float32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--run", default="", help="comma-separated recipes, one process each")
    ap.add_argument("--one", default="", help="one recipe, in this process")
    ap.add_argument("--steps", type=int, default=None, help="override every recipe's steps")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--pool", type=int, default=None, help="override every recipe's training scenes")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--held-out", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (CPU)")
    ap.add_argument("--jobs", type=int, default=64, help="recipes running at once")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.list:
        for name, r in RECIPES.items():
            print(f"{name:28s} {json.dumps({k: v for k, v in asdict(r).items() if v != getattr(BASE, k)})}")
        return
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.one:
        torch.set_num_threads(args.threads)
        recipe = RECIPES[args.one]
        recipe = replace(recipe, **{k: v for k, v in (("steps", args.steps), ("seed", args.seed), ("pool", args.pool))
                                    if v is not None})
        result = run_one(args.one, recipe, args.eval_every, args.held_out, device, args.out)
        if not args.out:
            print(json.dumps(result, indent=1))
        return
    names = [n for n in args.run.split(",") if n]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown recipes {unknown}; --list shows them")
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"recipes-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, __file__, "--eval-every", str(args.eval_every), "--held-out", str(args.held_out),
            "--threads", str(args.threads)]
    base += ["--steps", str(args.steps)] if args.steps else []
    base += ["--seed", str(args.seed)] if args.seed is not None else []
    base += ["--pool", str(args.pool)] if args.pool is not None else []
    meta = {"command": " ".join(sys.argv), "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
            "torch": torch.__version__, "transformers": __import__("transformers").__version__}
    waiting, procs, results = list(names), {}, {}
    while len(results) < len(names):  # the file is rewritten as each recipe ends: a cut-off run keeps the rest
        while waiting and len(procs) - len(results) < max(1, args.jobs):
            n = waiting.pop(0)
            procs[n] = subprocess.Popen([*base, "--one", n, "--out", str(tmp / f"{n}.json")])
        for n, p in procs.items():
            if n not in results and p.poll() is not None:
                f = tmp / f"{n}.json"
                results[n] = json.loads(f.read_text()) if f.exists() else {"recipe": n, "error": f"exit {p.returncode}"}
                if args.out:
                    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
        time.sleep(1)
    for n, r in results.items():
        fin = r.get("final", {})
        print(f"{n:28s} R2 x {fin.get('r2_x', float('nan')):6.2f} y {fin.get('r2_y', float('nan')):6.2f} "
              f"IoU {fin.get('mean_iou', float('nan')):.3f} Acc@0.5 {fin.get('acc_at_0.5', float('nan')):.3f} "
              f"({fin.get('seconds', '?')} s)")


if __name__ == "__main__":
    main()
