"""VisCoT (QA + detection, official padded-square number) and our synthetic split."""

from __future__ import annotations

import numpy as np
import pytest

from sif.data.schema import SampleError
from sif.eval.benchmarks.viscot import square_gt
from sif.io import save_npy
from tests.eval.test_benchmarks_common import bench, chain, no_answer, png, run, write_json, write_jsonl

SUFFIX = " Please provide the bounding box coordinate of the region that can help you answer the question better."


def _qa(qid: int, img: str, question: str, answer: str) -> dict:
    return {"dataset": "gqa", "split": "val", "question_id": qid, "image": [img, f"{img}###[1, 2, 3, 4]"],
            "conversations": [{"from": "human", "value": f"<image>\n{question}{SUFFIX}"},
                              {"from": "gpt", "value": "[0.250, 0.375, 0.750, 0.625]"},
                              {"from": "human", "value": "<image>"}, {"from": "gpt", "value": answer}]}


@pytest.fixture
def viscot_dir(tmp_path):
    root = tmp_path / "viscot_benchmark"
    images = tmp_path / "images"
    png(images / "gqa" / "wide.jpg", size=(200, 100))
    png(images / "gqa" / "tall.jpg", size=(100, 200))
    write_json(root / "benchmark" / "gqa.json", [
        _qa(0, "cot/gqa/wide.jpg", "Is the cup on the table?", "Yes"),
        _qa(1, "cot/gqa/tall.jpg", "What is on the shelf?", "teddy bear"),
        _qa(2, "cot/gqa/wide.jpg", "What color is the cup?", "red"),
    ])
    write_jsonl(root / "benchmark_det" / "gqa.jsonl", [
        {"img_path": "cot/gqa/wide.jpg", "expression": "Is the cup on the table?", "bbox": [50, 25, 150, 75],
         "height": 100, "width": 200, "question_id": 0, "split": "val"},
        {"img_path": "cot/gqa/tall.jpg", "expression": "What is on the shelf?", "bbox": [0, 0, 50, 100],
         "height": 200, "width": 100, "question_id": 1, "split": "val"},
        {"img_path": "cot/gqa/wide.jpg", "expression": "What color is the cup?", "bbox": [0, 0, 100, 100],
         "height": 100, "width": 200, "question_id": 2, "split": "val"},
    ])
    return root


def test_viscot_load(viscot_dir, tmp_path):
    items = bench("viscot", viscot_dir, tmp_path, image_root=str(tmp_path / "images")).load()
    assert [i.id for i in items] == ["gqa/0", "gqa/1", "gqa/2"]
    assert items[0].question == "Is the cup on the table?"  # no <image> tag, no box request
    assert items[0].answer == "Yes" and items[1].answer == "teddy bear"
    assert items[0].gt_boxes == [(0.25, 0.25, 0.75, 0.75)] and items[0].image_size == (200, 100)
    assert items[1].gt_boxes == [(0.0, 0.0, 0.5, 0.5)]
    assert items[0].image == str((tmp_path / "images" / "gqa" / "wide.jpg").resolve())  # "cot/" dropped
    one = bench("viscot", viscot_dir / "benchmark" / "gqa.json", tmp_path, image_root=str(tmp_path / "images"))
    assert len(one.load()) == 3


def test_square_gt_matches_viscot_scorer():
    # w > h: y shifted by (w - h) // 2, then / max(w, h)
    assert square_gt([50, 25, 150, 75], 200, 100) == (0.25, 0.375, 0.75, 0.625)
    assert square_gt([0, 0, 50, 100], 100, 200) == (0.25, 0.0, 0.5, 0.5)
    assert square_gt([0, 0, 10, 10], 10, 10) == (0.0, 0.0, 1.0, 1.0)
    assert square_gt([0, 0, 10, 10], 20, 11)[1] == pytest.approx(4 / 20)  # floor((20 - 11) / 2) = 4


def test_viscot_scoring(viscot_dir, tmp_path):
    b = bench("viscot", viscot_dir, tmp_path, image_root=str(tmp_path / "images"))
    items = b.load()
    scores = run(b, items, {
        "gqa/0": chain("Yes, it is.", [(0.25, 0.25, 0.75, 0.75)]),  # exact per-axis box
        "gqa/1": chain("a teddy bear", [(0.0, 0.0, 0.2, 0.5), (0.3, 0.0, 0.5, 0.5)]),  # union = gt
        "gqa/2": no_answer(),
    })
    s0, s1, s2 = scores["gqa/0"], scores["gqa/1"], scores["gqa/2"]
    assert (s0.correct, s0.iou, s0.hit) == (True, pytest.approx(1.0), True)
    assert s0.details["iou_official"] == pytest.approx(1.0)  # converted into the padded square
    assert (s1.correct, s1.iou) == (True, pytest.approx(1.0)) and s1.details["hit_official"] is True
    assert (s2.correct, s2.answer_found) == (False, False)
    assert s2.iou == pytest.approx(0.5) and s2.hit is False  # full image vs the left half, IoU 0.5 is not > 0.5
    agg = b.aggregate(list(scores.values()))
    assert agg["overall"] == pytest.approx(2 / 3) and agg["answer_missing"] == 1
    assert agg["acc_at_iou"] == pytest.approx(2 / 3) and agg["mean_iou"] == pytest.approx(2.5 / 3)
    # official: item 2 = full image, in the square (0, 0.25)-(1, 0.75), vs the gt (0, 0.25)-(0.5, 0.75)
    assert s2.details["iou_official"] == pytest.approx(0.5) and s2.details["hit_official"] is False
    assert agg["det_acc_official"] == pytest.approx(2 / 3)
    assert agg["det_acc_official_per_subset"] == {"gqa": pytest.approx(2 / 3)}


def test_viscot_compat_takes_the_raw_box_as_square_normalized(viscot_dir, tmp_path):
    b = bench("viscot", viscot_dir, tmp_path, image_root=str(tmp_path / "images"), compat=True)
    s = b.score(b.load()[0], chain("Yes", [(0.25, 0.25, 0.75, 0.75)]))
    # raw (0.25, 0.25, 0.75, 0.75) vs square gt (0.25, 0.375, 0.75, 0.625): IoU 0.5 -> not a hit
    assert s.details["iou_official"] == pytest.approx(0.5) and s.details["hit_official"] is False
    assert s.iou == pytest.approx(1.0)  # our per-axis number does not depend on compat


def test_viscot_judge_hook(viscot_dir, tmp_path):
    b = bench("viscot", viscot_dir, tmp_path, image_root=str(tmp_path / "images"))
    items = b.load()
    calls = []

    def judge(question, gt, pred):
        calls.append((question, gt, pred))
        return 0.4

    s = b.score_with_judge(items[2], chain("crimson"), judge)
    assert (s.score, s.correct, s.details["judge_score"]) == (0.4, False, 0.4)
    assert calls == [("What color is the cup?", "red", "crimson")]
    missing = b.score_with_judge(items[2], no_answer(), judge)
    assert missing.score == 0.0 and len(calls) == 1  # no judge call for a missing answer


def test_viscot_missing_det_record(viscot_dir, tmp_path):
    write_jsonl(viscot_dir / "benchmark_det" / "gqa.jsonl", [])
    with pytest.raises(SampleError, match="question_id"):
        bench("viscot", viscot_dir, tmp_path, image_root=str(tmp_path / "images")).load()


# ---- synth -------------------------------------------------------------------------------------------


@pytest.fixture
def synth_file(tmp_path):
    root = tmp_path / "synth"
    png(root / "images" / "s0.png", size=(10, 10))
    depth = np.full((10, 10), 0.8, dtype=np.float16)
    depth[:, :5] = 0.2
    save_npy(root / "depth" / "s0.npy", depth)
    common = {"source": "synth", "image": "images/s0.png", "depth": "depth/s0.npy"}
    return write_jsonl(root / "test.jsonl", [
        {**common, "id": "d0", "question": "Which object is closer?", "answer": "A", "choices": ["cube", "ball"],
         "category": "relative_depth", "gt_boxes": [[0.0, 0.0, 0.5, 1.0]]},
        {**common, "id": "l0", "question": "Is the cube left or right of the ball?", "answer": "left",
         "category": "left_right", "gt_boxes": [[0.0, 0.0, 0.5, 0.5], [0.0, 0.5, 0.5, 1.0]]},
        {**common, "id": "c0", "question": "How many cubes?", "answer": "3", "category": "counting",
         "gt_boxes": [[0.5, 0.0, 1.0, 1.0]], "num_objects": 3},
        {**common, "id": "a0", "question": "What color is the cube?", "answer": "red", "category": "attribute",
         "gt_boxes": [[0.0, 0.0, 0.5, 1.0]]},
    ])


def test_synth_load_and_score(synth_file, tmp_path):
    b = bench("synth", synth_file, tmp_path)
    items = b.load()
    assert [i.category for i in items] == ["relative_depth", "left_right", "counting", "attribute"]
    assert items[0].depth == str((synth_file.parent / "depth" / "s0.npy").resolve())
    left = [(0.0, 0.0, 0.5, 1.0)]
    scores = run(b, items, {
        "d0": chain("(A) cube", left, depth=0.2),
        "l0": chain("to the left", left, depth=0.2),
        "c0": chain("There are three cubes.", [(0.5, 0.0, 1.0, 1.0)], depth=0.8),
        "a0": chain("Red.", [(0.5, 0.0, 1.0, 1.0)], depth=0.2),  # right answer, wrong box, wrong depth
    })
    assert all(s.correct for s in scores.values())
    assert [scores[k].iou for k in ("d0", "l0", "c0", "a0")] == pytest.approx([1.0, 1.0, 1.0, 0.0])
    # each chain = full image (m = 0.5) + one box; the full image never matches 0.2 / 0.8
    assert [scores[k].depth_consistency for k in ("d0", "l0", "c0", "a0")] == pytest.approx([0.5, 0.5, 0.5, 0.0])
    agg = b.aggregate(list(scores.values()))
    assert agg["overall"] == 1.0 and agg["acc_at_iou"] == pytest.approx(0.75)
    assert agg["depth_consistency"] == pytest.approx(1.5 / 4)
    assert set(agg["per_category"]) == {"relative_depth", "left_right", "counting", "attribute"}
    wrong = b.score(items[2], chain("3 or 4", left))
    assert wrong.correct is False


def test_synth_is_strict_about_bad_samples(synth_file, tmp_path):
    synth_file.write_text(synth_file.read_text() + '{"id": "bad"}\n')
    with pytest.raises(SampleError, match="missing"):
        bench("synth", synth_file, tmp_path).load()
