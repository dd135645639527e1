"""Shared benchmark machinery (registry, answer / format / box / depth rules, aggregate) + test helpers.

The helpers at the top are imported by the per-benchmark test modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pytest
from PIL import Image

from sif.chain import Chain, Focus, Step, parse_chain, render_chain
from sif.config.evaluation import BenchmarkConfig
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore, Judgement, depth_consistency
from sif.registry import BENCHMARKS

FULL = (0.0, 0.0, 1.0, 1.0)


# ---- helpers (used by the other test modules) --------------------------------------------------------

def png(path: Path, size: tuple[int, int] = (8, 6), color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def png_bytes(size: tuple[int, int] = (8, 6), color: tuple[int, int, int] = (30, 30, 200)) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def write_jsonl(path: Path, records: Iterable[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2), encoding="utf-8")
    return path


def chain(answer: str, *areas: Sequence[tuple[float, float, float, float]], depth: float = 0.5) -> str:
    """A well-formed chain: the full image, then each given area (a list of boxes), then the answer."""
    steps = [Step([Focus(FULL, depth)], "Look at the whole image.")]
    steps += [Step([Focus(tuple(b), depth) for b in area], "Zoom in.") for area in areas]
    return render_chain(Chain(steps, answer))


def no_answer() -> str:
    return chain("X").split("<answer>")[0]


def bench(name: str, path: Path, tmp_path: Path, **kw: Any) -> Benchmark:
    cfg = BenchmarkConfig(name=name, path=str(path), **kw)
    return BENCHMARKS.get(name)(cfg, cache_dir=tmp_path / "cache")


def run(b: Benchmark, items: list[EvalItem], outputs: dict[str, str]) -> dict[str, ItemScore]:
    by_id = {it.id: it for it in items}
    return {i: b.score(by_id[i], text) for i, text in outputs.items()}


# ---- tests --------------------------------------------------------------------------------------------

def test_registry_lists_every_benchmark():
    assert set(BENCHMARKS.names()) >= {"vstar", "cvbench", "sat", "spatialbench", "viscot", "synth"}


class _Exact(Benchmark):
    name = "exact-test"

    def load(self) -> list[EvalItem]:
        return []

    def judge(self, item: EvalItem, answer: str | None) -> Judgement:
        return Judgement(answer == item.answer)


def _item(**kw: Any) -> EvalItem:
    base = dict(id="i", image="x.png", question="q?", answer="yes", category="c")
    base.update(kw)
    return EvalItem(**base)


def test_answer_and_format_are_separate(tmp_path):
    b = _Exact(BenchmarkConfig(), cache_dir=tmp_path)
    it = _item()
    right = b.score(it, chain("yes"))
    assert (right.correct, right.format_ok, right.answer_found, right.pred_answer, right.score) == (
        True, True, True, "yes", 1.0)
    bare = b.score(it, "<answer>yes</answer>")  # right answer, no <think>: correct, bad format
    assert (bare.correct, bare.format_ok, bare.answer_found) == (True, False, True)
    missing = b.score(it, no_answer())
    assert (missing.correct, missing.answer_found, missing.pred_answer, missing.score) == (False, False, None, 0.0)
    empty = b.score(it, chain("yes").replace("\nyes\n", "  "))
    assert (empty.correct, empty.answer_found) == (False, False)
    prose = b.score(it, "yes")
    assert (prose.correct, prose.format_ok, prose.answer_found) == (False, False, False)
    for junk in (None, 3, b"<answer>yes</answer>", ["<answer>yes</answer>"]):
        s = b.score(it, junk)
        assert (s.correct, s.answer_found) == (False, False)


def test_box_metrics_use_the_last_area_union_box(tmp_path):
    b = _Exact(BenchmarkConfig(iou_threshold=0.5), cache_dir=tmp_path)
    it = _item(gt_boxes=[(0.0, 0.0, 0.2, 0.2), (0.3, 0.3, 0.5, 0.5)])  # union box (0, 0, 0.5, 0.5)
    s = b.score(it, chain("yes", [(0.0, 0.0, 0.5, 0.5)]))
    assert s.iou == pytest.approx(1.0) and s.hit is True
    s = b.score(it, chain("yes", [(0.0, 0.0, 0.5, 0.5)], [(0.0, 0.0, 0.25, 0.5)]))  # last area counts
    assert s.iou == pytest.approx(0.5) and s.hit is False  # IoU must be > threshold
    s = b.score(it, chain("yes", [(0.0, 0.0, 0.1, 0.5), (0.4, 0.0, 0.5, 0.5)]))  # union of the last area
    assert s.iou == pytest.approx(1.0)
    s = b.score(it, chain("yes"))  # only the full image
    assert s.iou == pytest.approx(0.25)
    s = b.score(it, "<answer>yes</answer>")  # no area at all: a miss, not skipped
    assert (s.iou, s.hit) == (0.0, False)
    assert b.score(_item(), chain("yes", [(0.0, 0.0, 0.5, 0.5)])).iou is None  # no gt boxes


class _Map:
    """box_mean: 0.2 on the left half, 0.8 on the right half, 0 in the top-left 0.1 corner."""

    def box_mean(self, box):
        x1, y1, x2, y2 = box
        if x2 <= 0.1 and y2 <= 0.1:
            return 0.0
        if x2 <= 0.5:
            return 0.2
        if x1 >= 0.5:
            return 0.8
        return 0.5


@pytest.mark.parametrize("depth, floor, expected", [
    (0.2, 0.02, 0.5),   # full image (m=0.5) miss, left half (m=0.2) hit
    (0.21, 0.0, 0.5),   # 5% off: hit
    (0.23, 0.0, 0.0),   # 15% off: miss
    (0.23, 0.02, 0.0),  # the floor (0.02) is below 10% of 0.2: no change
    (0.5, 0.02, 0.5),   # the full image hits, the left half misses
])
def test_depth_consistency_rules(depth, floor, expected):
    parsed = parse_chain(chain("a", [(0, 0, 0.5, 1)], depth=depth))
    assert depth_consistency(parsed, _Map(), abs_floor=floor) == pytest.approx(expected)


def test_depth_consistency_hand_counts():
    text = ('<think><area>[{"bbox_2d":[0,0,0.5,1],"depth":0.21},{"bbox_2d":[0.5,0,1,1],"depth":0.5}]</area>'
            '<text>t</text><area>not json</area><text>t</text>'
            '<area>[{"bbox_2d":[0,0,0.1,0.1],"depth":0.01}]</area><text>t</text></think><answer>a</answer>')
    parsed = parse_chain(text)
    # pairs: (left, 0.21) hit (5%), (right, 0.5) miss, broken area = 1 miss, (corner m=0, 0.01):
    assert depth_consistency(parsed, _Map()) == pytest.approx(2 / 4)  # floor 0.02 makes the corner a hit
    assert depth_consistency(parsed, _Map(), abs_floor=0.0) == pytest.approx(1 / 4)  # paper: m=0 is a miss
    assert depth_consistency(parse_chain("<answer>a</answer>"), _Map()) == 0.0


def test_aggregate_counts(tmp_path):
    b = _Exact(BenchmarkConfig(), cache_dir=tmp_path)
    items = [_item(id="1", category="x", gt_boxes=[(0, 0, 0.5, 0.5)]), _item(id="2", category="x"),
             _item(id="3", category="y", gt_boxes=[(0, 0, 0.5, 0.5)])]
    outs = [chain("yes", [(0, 0, 0.5, 0.5)]), "<answer>no</answer>", no_answer()]
    agg = b.aggregate([b.score(i, o) for i, o in zip(items, outs)])
    assert agg["n"] == 3
    assert agg["overall"] == pytest.approx(1 / 3)
    assert agg["per_category"] == {"x": pytest.approx(0.5), "y": 0.0}
    assert agg["per_category_n"] == {"x": 2, "y": 1}
    assert agg["format_rate"] == pytest.approx(1 / 3)
    assert agg["answer_missing"] == 1
    assert agg["acc_at_iou"] == pytest.approx(0.5)  # items 1 (hit) and 3 (full image: IoU 0.25)
    assert agg["mean_iou"] == pytest.approx((1.0 + 0.25) / 2)
    assert "depth_consistency" not in agg
    assert b.aggregate([])["overall"] == 0.0


def test_depth_map_file_is_used(tmp_path):
    from sif.io import save_npy

    dm = np.full((10, 10), 0.8, dtype=np.float16)
    dm[:, :5] = 0.2
    save_npy(tmp_path / "d.npy", dm)
    b = _Exact(BenchmarkConfig(), cache_dir=tmp_path)
    s = b.score(_item(depth=str(tmp_path / "d.npy")), chain("yes", [(0, 0, 0.5, 1), (0.5, 0, 1, 1)], depth=0.2))
    # full image (m=0.5, 0.2) miss, left (0.2) hit, right (0.8 vs 0.2) miss
    assert s.depth_consistency == pytest.approx(1 / 3)
    assert b.aggregate([s])["depth_consistency"] == pytest.approx(1 / 3)
