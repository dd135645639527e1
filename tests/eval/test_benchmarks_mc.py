"""V*, CV-Bench and SAT: loaders on the public formats and strict / compat multiple-choice scoring."""

from __future__ import annotations

import base64

import pytest

from sif.data.schema import SampleError
from tests.eval.test_benchmarks_common import bench, chain, no_answer, png, png_bytes, run, write_json, write_jsonl

# ---- V* ---------------------------------------------------------------------------------------------


@pytest.fixture
def vstar_dir(tmp_path):
    root = tmp_path / "vstar_bench"
    png(root / "direct_attributes" / "sa_1.jpg")
    png(root / "relative_position" / "sa_2.jpg")
    write_jsonl(root / "test_questions.jsonl", [
        {"image": "direct_attributes/sa_1.jpg", "category": "direct_attributes", "question_id": 0, "label": "B",
         "text": "What is the color of the cup?\n(A) red\n(B) blue\n(C) green\n(D) white\n"
                 "Answer with the option's letter from the given choices directly."},
        {"image": "relative_position/sa_2.jpg", "category": "relative_position", "question_id": 1, "label": "A",
         "text": "Is the cat on the left or right of the dog? (A) left (B) right"},
        {"image": "direct_attributes/sa_1.jpg", "category": "OCR", "question_id": 2, "label": "A",
         "text": "What does it say? (A) x (B) y"},
    ])
    return root


def test_vstar_load(vstar_dir, tmp_path):
    items = bench("vstar", vstar_dir, tmp_path).load()
    assert [(i.id, i.category, i.answer) for i in items] == [
        ("0", "direct_attributes", "B"), ("1", "relative_position", "A")]  # OCR is not part of V*
    assert items[0].question == "What is the color of the cup?"
    assert items[0].choices == ["red", "blue", "green", "white"]
    assert items[1].question == "Is the cat on the left or right of the dog?"
    assert items[1].choices == ["left", "right"]
    assert items[0].image == str((vstar_dir / "direct_attributes" / "sa_1.jpg").resolve())
    # the file path works as well as the folder
    assert len(bench("vstar", vstar_dir / "test_questions.jsonl", tmp_path).load()) == 2


# (output, strict correct, compat correct, answer_found, format_ok)
VSTAR_Q0 = [  # gt B = blue
    (chain("B"), True, True, True, True),
    (chain("(B) blue"), True, True, True, True),
    (chain("A"), False, False, True, True),
    (chain("blue"), True, False, True, True),  # the choice text; the original's substring test misses it
    (chain("...so I think it is (B) the red one"), True, True, True, True),
    (chain("Bigger"), False, True, True, True),  # a letter inside a word; the original finds "B"
    (chain("(A) or (B)"), False, True, True, True),
    (chain("The answer is b"), True, False, True, True),
    (no_answer(), False, False, False, False),
    ("The answer is B", False, False, False, False),  # no tags at all: no answer
    ("<answer>B</answer>", True, True, True, False),  # right answer, broken format
]


@pytest.mark.parametrize("output, strict, compat, found, fmt", VSTAR_Q0)
def test_vstar_scoring(vstar_dir, tmp_path, output, strict, compat, found, fmt):
    for mode, expected in ((False, strict), (True, compat)):
        b = bench("vstar", vstar_dir, tmp_path, compat=mode)
        s = b.score(b.load()[0], output)
        assert (s.correct, s.answer_found, s.format_ok) == (expected, found, fmt), mode
        assert s.score == (1.0 if expected else 0.0)


def test_vstar_aggregate(vstar_dir, tmp_path):
    b = bench("vstar", vstar_dir, tmp_path)
    scores = run(b, b.load(), {"0": chain("B"), "1": chain("(B) right")})
    agg = b.aggregate(list(scores.values()))
    assert agg["overall"] == 0.5
    assert agg["per_category"] == {"direct_attributes": 1.0, "relative_position": 0.0}
    assert agg["answer_missing"] == 0 and agg["format_rate"] == 1.0


def test_vstar_bad_label(tmp_path):
    png(tmp_path / "v" / "a.jpg")
    write_jsonl(tmp_path / "v" / "test_questions.jsonl", [
        {"image": "a.jpg", "category": "direct_attributes", "question_id": 0, "label": "C",
         "text": "Q? (A) x (B) y"}])
    with pytest.raises(SampleError, match="label"):
        bench("vstar", tmp_path / "v", tmp_path).load()


# ---- CV-Bench ---------------------------------------------------------------------------------------

CV_ROWS = [  # idx, source, task, answer
    (0, "ADE20K", "Count", "(A)"), (1, "COCO", "Count", "(B)"), (2, "COCO", "Relation", "(A)"),
    (3, "COCO", "Relation", "(B)"), (4, "Omni3D", "Depth", "(A)"), (5, "Omni3D", "Depth", "(B)"),
    (6, "Omni3D", "Distance", "(A)"), (7, "Omni3D", "Distance", "(B)"),
]


def _cv_records(embed: bool):
    recs = []
    for idx, source, task, answer in CV_ROWS:
        rec = {"idx": idx, "type": "3D" if source == "Omni3D" else "2D", "task": task,
               "question": f"Question {idx}?", "choices": ["left", "right"], "answer": answer,
               "prompt": f"Question {idx}? (A) left (B) right", "source": source, "filename": f"{idx}.png"}
        rec["image"] = {"bytes": png_bytes(), "path": None} if embed else f"img/{rec['type']}/{idx}.png"
        recs.append(rec)
    return recs


@pytest.fixture
def cv_dir(tmp_path):
    root = tmp_path / "CV-Bench"
    for idx, source, _, _ in CV_ROWS:
        png(root / "img" / ("3D" if source == "Omni3D" else "2D") / f"{idx}.png")
    write_jsonl(root / "test.jsonl", _cv_records(embed=False))
    return root


CV_OUTPUTS = {  # correct: ADE 1/1, COCO 1/3, Omni3D 2/4
    "0": chain("A"), "1": chain("Bigger"), "2": no_answer(), "3": chain("The answer is B"),
    "4": chain("(A) left"), "5": chain("right"), "6": chain("B"), "7": "<answer>(A)</answer>",
}


def test_cvbench_load_and_official_formula(cv_dir, tmp_path):
    b = bench("cvbench", cv_dir, tmp_path)
    items = b.load()
    assert [i.answer for i in items] == ["A", "B", "A", "B", "A", "B", "A", "B"]
    assert items[0].category == "Count" and items[0].meta == {"type": "2D", "source": "ADE20K"}
    scores = run(b, items, CV_OUTPUTS)
    assert [scores[str(i)].correct for i in range(8)] == [True, False, False, True, True, True, False, False]
    agg = b.aggregate(list(scores.values()))
    assert agg["overall"] == pytest.approx(4 / 8)
    assert agg["per_source"] == {"ADE20K": 1.0, "COCO": pytest.approx(1 / 3), "Omni3D": 0.5}
    two_d = (1.0 + 1 / 3) / 2
    assert agg["cvbench_2d"] == pytest.approx(two_d)
    assert agg["cvbench_3d"] == pytest.approx(0.5)
    assert agg["overall_official"] == pytest.approx(0.5 * (two_d + 0.5))  # 7/12
    assert agg["per_category"] == {"Count": 0.5, "Depth": 1.0, "Distance": 0.0, "Relation": 0.5}
    assert agg["per_type"] == {"2D": 0.5, "3D": 0.5}
    assert agg["answer_missing"] == 1


def test_cvbench_compat_uses_the_lmms_eval_extractor(cv_dir, tmp_path):
    b = bench("cvbench", cv_dir, tmp_path, compat=True)
    scores = run(b, b.load(), CV_OUTPUTS)
    # "Bigger" -> B (right by accident), "The answer is B" -> T (wrong), "right" -> R (wrong)
    assert [scores[str(i)].correct for i in range(8)] == [True, True, False, False, True, False, False, False]


def test_cvbench_parquet_with_embedded_images(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    root = tmp_path / "pq"
    root.mkdir()
    pd.DataFrame(_cv_records(embed=True)).to_parquet(root / "test.parquet")
    items = bench("cvbench", root, tmp_path).load()
    assert len(items) == 8 and items[3].choices == ["left", "right"] and items[3].answer == "B"
    assert items[0].image == items[1].image  # identical bytes are written once (content-addressed)
    assert items[0].image.startswith(str(tmp_path / "cache")) and items[0].image.endswith(".png")


def test_cvbench_missing_image_is_a_load_error(cv_dir, tmp_path):
    (cv_dir / "img" / "2D" / "1.png").unlink()
    with pytest.raises(SampleError, match="image missing"):
        bench("cvbench", cv_dir, tmp_path).load()


# ---- SAT --------------------------------------------------------------------------------------------


@pytest.fixture
def sat_file(tmp_path):
    one = base64.b64encode(png_bytes(color=(1, 2, 3))).decode()
    two = base64.b64encode(png_bytes(color=(4, 5, 6))).decode()
    return write_json(tmp_path / "sat" / "test.json", [
        {"image_bytes": [one], "question": "Which point is closer to the camera?", "answers": ["A", "B"],
         "question_type": "depth", "correct_answer": "B"},
        {"image_bytes": [one, two], "question": "Did the camera move left or right?",
         "answers": ["left", "right"], "question_type": "ego_movement", "correct_answer": "left"},
        {"image_bytes": [two], "question": "Is the chair to the left of the table?",
         "answers": ["Yes", "No"], "question_type": "relation", "correct_answer": "No"},
    ])


def test_sat_load(sat_file, tmp_path):
    items = bench("sat", sat_file, tmp_path).load()
    assert [(i.answer, i.category, i.choices) for i in items] == [
        ("B", "depth", ["A", "B"]), ("A", "ego_movement", ["left", "right"]), ("B", "relation", ["Yes", "No"])]
    assert len(items[1].meta["images"]) == 2 and items[1].meta["multi_image"] is True  # kept, not skipped
    assert items[1].image == items[1].meta["images"][0] == items[0].image


# (item index, output, strict correct, compat correct)
SAT_CASES = [
    (0, chain("B"), True, True),          # "B" is the text of choice B
    (0, chain("A"), False, False),
    (0, chain("(B)"), True, True),
    (1, chain("left"), True, False),      # multi-image: scored in strict, skipped (= wrong) in compat
    (1, chain("A"), True, False),
    (2, chain("No"), True, True),
    (2, chain("(B) No"), True, True),
    (2, chain("B"), True, False),         # letter; the original's substring test finds no choice text
    (2, chain("Not sure"), False, True),  # compat: "no" is a substring of "not sure"
    (2, chain("Yes"), False, False),
    (2, no_answer(), False, True),        # compat: a missing answer becomes the gt
    (0, no_answer(), False, True),
]


@pytest.mark.parametrize("index, output, strict, compat", SAT_CASES)
def test_sat_scoring(sat_file, tmp_path, index, output, strict, compat):
    for mode, expected in ((False, strict), (True, compat)):
        b = bench("sat", sat_file, tmp_path, compat=mode)
        assert b.score(b.load()[index], output).correct is expected, mode


def test_sat_aggregate_counts_every_item(sat_file, tmp_path):
    b = bench("sat", sat_file, tmp_path)
    items = b.load()
    agg = b.aggregate([b.score(items[0], chain("B")), b.score(items[1], chain("right")),
                       b.score(items[2], no_answer())])
    assert agg["n"] == 3 and agg["overall"] == pytest.approx(1 / 3) and agg["answer_missing"] == 1
    compat = bench("sat", sat_file, tmp_path, compat=True)
    agg = compat.aggregate([compat.score(items[0], chain("B")), compat.score(items[1], chain("left")),
                            compat.score(items[2], no_answer())])
    assert agg["overall"] == pytest.approx(2 / 3)  # multi-image counted wrong, missing counted right


def test_sat_image_paths_and_bad_records(tmp_path):
    png(tmp_path / "imgs" / "a.png")
    path = write_jsonl(tmp_path / "sat.jsonl", [
        {"images": ["a.png"], "question": "Q?", "answers": ["x", "y"], "correct_answer": "y", "id": "q1"}])
    (item,) = bench("sat", path, tmp_path, image_root=str(tmp_path / "imgs")).load()
    assert (item.id, item.answer, item.category) == ("q1", "B", "all")
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"image_bytes": ["bm90IGFuIGltYWdl"], "question": "Q?", "answers": ["x", "y"], "correct_answer": "y"}])
    with pytest.raises(SampleError, match="cannot be decoded"):
        bench("sat", bad, tmp_path).load()
    bad = write_jsonl(tmp_path / "bad2.jsonl", [
        {"images": ["a.png"], "question": "Q?", "answers": ["x", "y"], "correct_answer": "z"}])
    with pytest.raises(SampleError, match="correct_answer"):
        bench("sat", bad, tmp_path, image_root=str(tmp_path / "imgs")).load()
