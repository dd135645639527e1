"""sif.answers: normalisation, option letters, numbers and answer matching (hand-labelled + fuzzed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sif.answers import (answers_match, extract_choice_letter, gt_letter, normalize_answer,
                         parse_number)

COLORS = ["red", "blue", "green", "yellow"]


@pytest.mark.parametrize("text, expected", [
    ("The Red Cube.", "red cube"),
    ("  an   apple, a pear!  ", "apple pear"),
    ("Three", "3"),
    ("twenty", "20"),
    ("zero cubes", "0 cubes"),
    ("3.50 m", "3.50 m"),
    ("1,000 items", "1000 items"),
    ("left-hand side", "left hand side"),
    ("It's THE LEFT one", "it s left 1"),
    ("", ""),
    ("!!!", ""),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize("answer, choices, num, expected", [
    # the accepted forms
    ("B", None, 4, "B"),
    ("(B)", None, 4, "B"),
    ("B)", None, 4, "B"),
    ("B.", None, 4, "B"),
    ("B: red", None, 4, "B"),
    ("(B) red", None, 4, "B"),
    ("Option B", None, 4, "B"),
    ("The answer is B", None, 4, "B"),
    ("The answer is B.", None, 4, "B"),
    ("answer: c", None, 4, "C"),
    ("**C**", None, 4, "C"),
    ("b", None, 4, "B"),
    ("(d)", None, 4, "D"),
    ("...so I think it is (B) the red one", None, 4, "B"),
    ("B red", None, 4, "B"),
    ("A", None, 4, "A"),
    ("A.", None, 4, "A"),
    ("(A) the red one", None, 4, "A"),
    ("The answer is A", None, 4, "A"),
    # letters inside words and articles are not options
    ("Bigger", None, 4, None),
    ("Bigger than the cube", None, 4, None),
    ("A red cube is on the left", None, 4, None),
    ("The answer is a red cube", None, 4, None),
    ("I think so", None, 4, None),
    ("Definitely", None, 4, None),
    ("", None, 4, None),
    ("   ", None, 4, None),
    (None, None, 4, None),
    # ambiguity and range
    ("(A) or (B)", None, 4, None),
    ("B. No wait, C.", None, 4, None),
    ("E", None, 4, None),
    ("(E)", None, 4, None),
    ("E", None, None, "E"),
    ("C", ["x", "y"], None, None),
    # choice text
    ("blue", COLORS, None, "B"),
    ("The Blue.", COLORS, None, "B"),
    ("A red", ["red", "blue"], None, "A"),  # article + the text of choice A
    ("A red", ["blue", "red"], None, "B"),  # "A red" is the text of choice B, not option A
    ("a red cube", ["blue sphere", "red cube"], None, "B"),
    ("purple", COLORS, None, None),
    ("A", ["B", "A"], None, "B"),  # the text of a choice wins over the letter reading
    ("(B) blue", COLORS, None, "B"),
    ("red or blue", COLORS, None, None),
])
def test_extract_choice_letter(answer, choices, num, expected):
    assert extract_choice_letter(answer, choices, num) == expected


@pytest.mark.parametrize("text, expected", [
    ("3", 3.0), ("three", 3.0), ("3.0", 3.0), ("There are 3 cubes", 3.0), ("There are three cubes.", 3.0),
    ("0", 0.0), ("zero", 0.0), ("1,024", 1024.0), ("2.5", 2.5),
    ("3 or 4", None), ("2 red and 1 blue", None), ("none", None), ("", None), (None, None),
    ("many", None), ("1" * 400, None),
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("pred, gt, choices, tol, expected", [
    # multiple choice: gt is a letter
    ("B", "B", COLORS, 0.0, True),
    ("(B)", "(B)", COLORS, 0.0, True),
    ("The answer is B", "B", COLORS, 0.0, True),
    ("blue", "B", COLORS, 0.0, True),
    ("A", "B", COLORS, 0.0, False),
    ("Bigger", "B", ["bigger", "smaller"], 0.0, False),  # text of choice A, not the letter B
    ("Bigger", "A", ["bigger", "smaller"], 0.0, True),
    ("Bigger", "B", COLORS, 0.0, False),
    ("(A) or (B)", "B", COLORS, 0.0, False),
    (None, "B", COLORS, 0.0, False),
    ("B", "Z", COLORS, 0.0, False),
    # numbers
    ("3", "3", None, 0.0, True),
    ("three", "3", None, 0.0, True),
    ("There are 3 cubes.", "three", None, 0.0, True),
    ("3.0", "3", None, 0.0, True),
    ("4", "3", None, 0.0, False),
    ("3 or 4", "3", None, 0.0, False),
    ("no cubes", "0", None, 0.0, False),
    ("105", "100", None, 0.05, True),
    ("106", "100", None, 0.05, False),
    # yes / no
    ("Yes", "yes", None, 0.0, True),
    ("Yes, it is.", "Yes", None, 0.0, True),
    ("No", "Yes", None, 0.0, False),
    ("yes and no", "yes", None, 0.0, False),
    ("Not sure", "No", None, 0.0, False),
    ("Noted", "No", None, 0.0, False),
    # free text
    ("Left", "left", None, 0.0, True),
    ("to the left", "left", None, 0.0, True),
    ("It is on the left side.", "left", None, 0.0, True),
    ("left", "to the left", None, 0.0, True),
    ("the one on the left", "left", None, 0.0, True),
    ("not left", "left", None, 0.0, False),
    ("left of the red cube", "left", None, 0.0, False),
    ("right", "left", None, 0.0, False),
    ("teddy bear", "teddy bear", None, 0.0, True),
    ("a teddy bear.", "Teddy Bear", None, 0.0, True),
    ("bear", "teddy bear", None, 0.0, False),
    ("", "left", None, 0.0, False),
    ("left", "", None, 0.0, False),
])
def test_answers_match(pred, gt, choices, tol, expected):
    assert answers_match(pred, gt, choices, number_tolerance=tol) is expected


def test_gt_letter():
    assert gt_letter("(C)", COLORS) == "C"
    assert gt_letter("green", COLORS) == "C"
    assert gt_letter("E", COLORS) is None
    assert gt_letter("purple", COLORS) is None


@settings(max_examples=2000, deadline=None)
@given(text=st.text(max_size=200), choices=st.one_of(st.none(), st.lists(st.text(max_size=12), max_size=6)),
       num=st.one_of(st.none(), st.integers(-3, 15)), gt=st.text(max_size=20))
def test_never_raises_on_arbitrary_text(text, choices, num, gt):
    letter = extract_choice_letter(text, choices, num)
    assert letter is None or letter in "ABCDEFGHIJ"
    if letter is not None and choices:
        assert "ABCDEFGHIJ".index(letter) < len(choices)
    assert isinstance(normalize_answer(text), str)
    value = parse_number(text)
    assert value is None or value == value  # not NaN
    assert isinstance(answers_match(text, gt, choices), bool)
    assert isinstance(answers_match(text, gt), bool)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from("ABCD"), st.sampled_from(["{}", "({})", "{})", "{}.", "Option {}", "The answer is {}",
                                                 "({}) blue", "{}: red", "I think it is ({}) here"]))
def test_marked_letters_are_read(letter, form):
    assert extract_choice_letter(form.format(letter), num_choices=4) == letter


@pytest.mark.parametrize("text", [
    "answer A " * 12_000, "(A)" * 30_000, " " * 100_000 + "x", "A" + " " * 100_000 + "b", "1" * 100_000,
    "B." * 50_000, "\u00a0" * 50_000 + "(B", "option b " * 10_000,
])
def test_long_adversarial_answers_are_handled(text):
    """Total on hostile text; how fast is measured by benchmarks/hostile_inputs.py (no wall-clock assertion)."""
    extract_choice_letter(text, COLORS)
    assert parse_number(text) is None or isinstance(parse_number(text), float)
    assert answers_match(text, "left") in (True, False)
    assert answers_match(text, "B", COLORS) in (True, False)
