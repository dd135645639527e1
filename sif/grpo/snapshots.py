"""Completion snapshots: every `stage.save_completions_every` steps, a few completions as text and as pictures.

    completions/step_XXXX.jsonl    one line per completion: id, question, answer, completion text, its
                                   parse (areas, answer, violations), every reward, the advantage
    completions/step_XXXX_k.png    the RGB image with the ground-truth boxes (green) and the predicted areas
                                   drawn and labelled "<step>: d=<stated depth> (map <depth-map mean>)"

How the sample columns reach the callback: TRL keeps the last generation batch in `trainer._logs`
(prompts, completions, per-reward values, advantages; gathered over ranks) and adds to `_logs["extra"]`
whatever the reward functions pass to their `log_extra` kwarg. `SnapshotColumns` wraps ONE reward
function so that it forwards the sample id, image and depth paths, gt boxes, question and answer through
`log_extra`, so they arrive aligned with the completions on every rank.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Optional

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - transformers is a dependency
    TrainerCallback = object  # type: ignore[assignment,misc]

log = logging.getLogger("sif.grpo")

PREFIX = "sif_"
SNAPSHOT_COLUMNS = ("id", "image", "depth", "gt_boxes", "question", "answer")
STEP_COLORS = ["#ff3b30", "#ff9500", "#ffcc00", "#af52de", "#007aff", "#5ac8fa", "#ff2d55", "#a2845e"]
GT_COLOR = "#34c759"
MAX_TEXT_CHARS = 4000


class SnapshotColumns:
    """A TRL reward function that also forwards `columns` to TRL's `log_extra` (JSON for lists); a class, not
    a closure, so the reward set pickles. `reward_range`, `suite` and `__name__` are the wrapped function's."""

    def __init__(self, func: Callable[..., list], columns: tuple[str, ...] = SNAPSHOT_COLUMNS) -> None:
        self.func, self.columns = func, tuple(columns)
        self.__name__ = self.__qualname__ = getattr(func, "__name__", type(func).__name__)
        self.__doc__ = getattr(func, "__doc__", None)
        for attr in ("reward_range", "suite"):  # keep what sif.rewards attaches to its callables
            if hasattr(func, attr):
                setattr(self, attr, getattr(func, attr))

    def __call__(self, prompts: Any, completions: Any, completion_ids: Any = None, **kwargs: Any) -> list:
        log_extra = kwargs.get("log_extra")
        if callable(log_extra):
            n = len(completions)
            for col in self.columns:
                values = kwargs.get(col)
                if not isinstance(values, (list, tuple)) or len(values) != n:
                    continue
                try:
                    log_extra(PREFIX + col, [v if isinstance(v, (str, int, float, type(None))) else json.dumps(v)
                                             for v in values])
                except Exception:  # noqa: BLE001 - a snapshot must never break a reward
                    log.debug("log_extra(%s) failed", col, exc_info=True)
        return self.func(prompts, completions, completion_ids, **kwargs)


def _text(completion: Any) -> str:
    from sif.rewards import completion_text

    return completion_text(completion)[:MAX_TEXT_CHARS]


def _json_or(value: Any, default: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return value if value is not None else default


def _finite(value: Any) -> Optional[float]:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def snapshot_records(logs: dict, reward_names: list[str], step: int, count: int) -> list[dict]:
    """The first `count` completions of the last generation batch in TRL's `_logs`, as plain records."""
    completions = list(logs.get("completion", []))
    extra = {k[len(PREFIX):]: list(v) for k, v in dict(logs.get("extra", {})).items() if k.startswith(PREFIX)}
    rewards = {n: list(logs.get("rewards", {}).get(n, [])) for n in reward_names}
    advantages = list(logs.get("advantages", []))
    out = []
    for i in range(min(count, len(completions))):
        def col(name: str, default: Any = None) -> Any:
            values = extra.get(name, [])
            return values[i] if i < len(values) else default

        text = _text(completions[i])
        from sif.chain import parse_chain

        parsed = parse_chain(text)
        out.append({
            "step": step, "index": i, "id": col("id"), "question": col("question"), "answer": col("answer"),
            "image": col("image"), "depth": col("depth"), "gt_boxes": _json_or(col("gt_boxes"), []),
            "completion": text,
            "parsed": {"valid": parsed.valid, "answer": parsed.answer, "violations": parsed.violations[:5],
                       "areas": [[{"bbox_2d": list(f.bbox), "depth": f.depth} for f in step_areas]
                                 for step_areas in parsed.areas]},
            "rewards": {n: _finite(v[i]) if i < len(v) else None for n, v in rewards.items()},
            "advantage": _finite(advantages[i]) if i < len(advantages) else None,
        })
    return out


def draw_record(record: dict, min_width: int = 480) -> Any:
    """The RGB image with gt boxes and predicted areas (labelled with stated and map depth), and a caption."""
    from PIL import Image, ImageDraw, ImageFont

    from sif.data.images import open_rgb

    try:
        base = open_rgb(record["image"]) if record.get("image") else Image.new("RGB", (320, 240), "gray")
    except Exception:  # noqa: BLE001 - a missing picture still gets its caption
        base = Image.new("RGB", (320, 240), "gray")
    scale = max(1, math.ceil(min_width / base.width))
    img = base.resize((base.width * scale, base.height * scale))
    depth_map = None
    if record.get("depth"):
        try:
            from sif.depth import load_depth_map

            depth_map = load_depth_map(record["depth"])
        except Exception:  # noqa: BLE001
            depth_map = None
    font = ImageFont.load_default()
    draw = ImageDraw.Draw(img)
    w, h = img.size

    def rect(box: list[float]) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = (min(1.0, max(0.0, float(v))) for v in box)
        return (x1 * w, y1 * h, max(x1 * w, x2 * w), max(y1 * h, y2 * h))

    for box in record.get("gt_boxes") or []:
        draw.rectangle(rect(box), outline=GT_COLOR, width=2)
    for s, areas in enumerate(record["parsed"]["areas"]):
        color = STEP_COLORS[s % len(STEP_COLORS)]
        for focus in areas:
            r = rect(focus["bbox_2d"])
            draw.rectangle(r, outline=color, width=2)
            label = f"{s + 1}: d={float(focus['depth']):.2f}"
            if depth_map is not None:
                try:
                    label += f" (map {depth_map.box_mean(focus['bbox_2d']):.2f})"
                except Exception:  # noqa: BLE001 - an invalid box has no map mean
                    pass
            tb = draw.textbbox((r[0] + 2, r[1] + 2), label, font=font)
            draw.rectangle(tb, fill="black")
            draw.text((r[0] + 2, r[1] + 2), label, fill=color, font=font)
    rewards = ", ".join(f"{k}={v:.2f}" for k, v in record["rewards"].items() if v is not None)
    adv = record.get("advantage")
    lines = [f"step {record['step']}  id {record.get('id')}  gt answer {record.get('answer')!r}  "
             f"predicted {record['parsed']['answer']!r}  valid={record['parsed']['valid']}",
             f"{rewards}" + (f"  advantage={adv:.2f}" if adv is not None else "")]
    caption_h = 14 * len(lines) + 8
    canvas = Image.new("RGB", (w, h + caption_h), "white")
    canvas.paste(img, (0, 0))
    cd = ImageDraw.Draw(canvas)
    for j, line in enumerate(lines):
        cd.text((4, h + 4 + 14 * j), line[:200], fill="black", font=font)
    return canvas


def write_snapshot(out_dir: Path, records: list[dict], draw: bool = True) -> list[Path]:
    """completions/step_XXXX.jsonl and step_XXXX_k.png for `records` (of one step); returns the paths."""
    from sif.io import atomic_path, write_jsonl

    if not records:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    step = int(records[0]["step"])
    written = [out_dir / f"step_{step:04d}.jsonl"]
    write_jsonl(written[0], records)
    if draw:
        for k, rec in enumerate(records):
            png = out_dir / f"step_{step:04d}_{k}.png"
            with atomic_path(png) as tmp:
                draw_record(rec).save(tmp, format="png")
            written.append(png)
    return written


class CompletionSnapshotCallback(TrainerCallback):  # type: ignore[misc]
    """Writes a snapshot (rank 0) at every step that is a multiple of `every` (0 or less: never)."""

    def __init__(self, out_dir: str | Path, every: int, count: int, trainer: Any = None) -> None:
        self.out_dir = Path(out_dir)
        self.every = int(every)
        self.count = int(count)
        self.trainer = trainer
        self.written: list[Path] = []

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - HF callback signature
        step = int(state.global_step)
        if self.every <= 0 or self.count <= 0 or step % self.every or not state.is_world_process_zero:
            return control
        trainer = self.trainer
        logs = getattr(trainer, "_logs", None)
        if not isinstance(logs, dict):
            return control
        try:
            records = snapshot_records(logs, list(getattr(trainer, "reward_func_names", [])), step, self.count)
            self.written += write_snapshot(self.out_dir, records)
        except Exception as exc:  # noqa: BLE001 - snapshots must never stop training
            log.warning("completion snapshot at step %d failed: %s", step, exc)
        return control
