"""SpatialBench: the five task files, SpatialBot's per-task rules, strict vs compat."""

from __future__ import annotations

import pytest

from sif.data.schema import SampleError
from sif.eval.benchmarks.spatialbench import counting_error
from tests.eval.test_benchmarks_common import bench, chain, no_answer, png, run, write_json


def _items(task: str, answers: list[str]) -> list[dict]:
    return [{"id": f"{task}_{k}", "image": f"{task}/{k}.jpg", "question": f"{task} question {k}?", "answer": a}
            for k, a in enumerate(answers)]


TASKS = {
    "positional": ["left", "Yes", "right"],
    "existence": ["Yes", "No", "Yes", "No"],  # 2 (pos, neg) pairs
    "reach": ["Yes", "No", "Yes", "No"],
    "size": ["Yes", "No"],
    "counting": ["4", "2", "5", "2"],
}


@pytest.fixture
def sb_dir(tmp_path):
    root = tmp_path / "spatial_bench"
    for task, answers in TASKS.items():
        for k in range(len(answers)):
            png(root / task / f"{k}.jpg")
        recs = _items(task, answers)
        if task == "positional":
            recs.append({"id": "grounding_0", "image": "positional/0.jpg", "question": "box?", "objects": []})
        write_json(root / f"{task}.json", recs)
    return root


OUTPUTS = {
    # positional: right, right (buried in a sentence), wrong -> 2/3
    "positional/positional_0": chain("It is on the left side."),
    "positional/positional_1": chain("Yes, it is."),
    "positional/positional_2": chain("left"),
    # existence: pair 0 both right (1), pair 1 neg wrong (0) -> 1/2 pairs
    "existence/existence_0": chain("Yes"), "existence/existence_1": chain("No"),
    "existence/existence_2": chain("Yes"), "existence/existence_3": chain("Not sure"),
    # reach: pair 0 both right (2 + 1), pair 1 one right (1 + 0) -> 4 / 6
    "reach/reach_0": chain("Yes"), "reach/reach_1": chain("No"),
    "reach/reach_2": no_answer(), "reach/reach_3": chain("No"),
    # size: both wrong -> 0 / 3
    "size/size_0": chain("No"), "size/size_1": chain("Yes"),
    # counting: gt 4 -> "four" (0 %), gt 2 -> 3 (50 %), gt 5 -> "many" (100 %), gt 2 -> 10 (400 %, capped 100 %)
    "counting/counting_0": chain("four"), "counting/counting_1": chain("There are 3."),
    "counting/counting_2": chain("many"), "counting/counting_3": chain("10"),
}


def test_load(sb_dir, tmp_path):
    items = bench("spatialbench", sb_dir, tmp_path).load()
    assert len(items) == 3 + 4 + 4 + 2 + 4  # the grounding item is not loaded
    by_id = {i.id: i for i in items}
    assert by_id["reach/reach_3"].meta["pair"] == 1 and by_id["reach/reach_3"].meta["pair_role"] == "neg"
    assert by_id["positional/positional_0"].category == "positional"
    assert by_id["counting/counting_0"].image == str((sb_dir / "counting" / "0.jpg").resolve())


def test_strict_scores_and_official_rules(sb_dir, tmp_path):
    b = bench("spatialbench", sb_dir, tmp_path)
    scores = run(b, b.load(), OUTPUTS)
    assert [scores[f"positional/positional_{k}"].correct for k in range(3)] == [True, True, False]
    assert scores["existence/existence_3"].correct is False  # "No" is a substring of "Not sure"
    assert scores["reach/reach_2"].answer_found is False and scores["reach/reach_2"].correct is False
    assert [scores[f"counting/counting_{k}"].details["rel_error_pct"] for k in range(4)] == [0.0, 50.0, 100.0, 100.0]
    assert [scores[f"counting/counting_{k}"].score for k in range(4)] == [1.0, 0.5, 0.0, 0.0]
    agg = b.aggregate(list(scores.values()))
    off = agg["official_pct"]
    assert off["positional"] == pytest.approx(200 / 3)
    assert off["existence"] == pytest.approx(50.0)
    assert off["reach"] == pytest.approx(100 * 4 / 6)
    assert off["size"] == pytest.approx(0.0)
    assert off["counting"] == pytest.approx(100 - (0 + 50 + 100 + 100) / 4)  # 37.5
    assert agg["per_category"]["counting"] * 100 == pytest.approx(off["counting"])
    assert agg["per_category"]["existence"] == pytest.approx(3 / 4)  # per item (official is per pair)
    assert agg["answer_missing"] == 1


def test_compat_reproduces_the_original(sb_dir, tmp_path):
    b = bench("spatialbench", sb_dir, tmp_path, compat=True)
    scores = run(b, b.load(), OUTPUTS)
    # substring of the gt in the answer: "left" is in "It is on the left side.", "Yes" in "Yes, it is."
    assert [scores[f"positional/positional_{k}"].correct for k in range(3)] == [True, True, False]
    assert scores["existence/existence_3"].correct is True  # "No" in "Not sure"
    assert scores["reach/reach_2"].correct is True  # missing answer := gt
    assert scores["reach/reach_2"].answer_found is False  # still reported as missing
    # counting: int() only ("four", "There are 3." and "many" are not ints -> 100 %), uncapped 400 %
    assert [scores[f"counting/counting_{k}"].details["rel_error_pct"] for k in range(4)] == [
        100.0, 100.0, 100.0, 400.0]
    off = b.aggregate(list(scores.values()))["official_pct"]
    assert off["existence"] == pytest.approx(100.0)
    assert off["reach"] == pytest.approx(100.0)
    assert off["counting"] == pytest.approx(100 - 700 / 4)  # -75: the original's uncapped number


def test_missing_answer_strict_vs_compat(sb_dir, tmp_path):
    items = {i.id: i for i in bench("spatialbench", sb_dir, tmp_path).load()}
    for item_id in ("positional/positional_0", "existence/existence_1", "counting/counting_1"):
        strict = bench("spatialbench", sb_dir, tmp_path).score(items[item_id], no_answer())
        compat = bench("spatialbench", sb_dir, tmp_path, compat=True).score(items[item_id], no_answer())
        assert (strict.correct, strict.score) == (False, 0.0)
        assert (compat.correct, compat.score) == (True, 1.0)


@pytest.mark.parametrize("pred, gt, capped, expected", [
    ("3", "3", True, 0.0), ("3", "4", True, 25.0), ("8", "4", True, 100.0), ("12", "4", True, 100.0),
    ("12", "4", False, 200.0), ("3.5", "4", True, 100.0), ("3.5", "4", False, 100.0), (None, "4", True, 100.0),
    ("three", "4", True, 25.0), ("three", "4", False, 100.0), ("0", "0", True, 0.0), ("1", "0", True, 100.0),
    ("3 or 4", "4", True, 100.0), ("9" * 5000, "4", False, 100.0), ("9" * 400, "4", False, 100.0),
])
def test_counting_error(pred, gt, capped, expected):
    assert counting_error(pred, gt, capped=capped) == pytest.approx(expected)


def test_odd_pair_file_is_a_load_error(sb_dir, tmp_path):
    write_json(sb_dir / "size.json", _items("size", ["Yes"]))
    with pytest.raises(SampleError, match="pairs"):
        bench("spatialbench", sb_dir, tmp_path).load()
