"""Chance and majority-answer reference rows, computed by hand."""

from __future__ import annotations

import pytest

from sif.eval.baselines import baselines


def test_chance_and_majority_by_hand():
    train = [{"answer": "A", "category": "relative_depth", "choices": ["x", "y"]},
             {"answer": "A", "category": "counting", "choices": ["1", "2", "3", "4"]},
             {"answer": "3", "category": "counting"},
             {"answer": "5", "category": "counting"}]
    held_out = [{"answer": "A", "category": "relative_depth", "choices": ["x", "y"]},   # majority "A": hit
                {"answer": "B", "category": "counting", "choices": ["1", "2", "3", "4"]},  # miss
                {"answer": "3", "category": "counting"}]                                 # open: miss
    rows = baselines(train, held_out)
    # chance: 1/2, 1/4, and 1/3 (counting takes the answers A, 3, 5 in training)
    assert rows["chance"]["relative_depth"] == pytest.approx(0.5)
    assert rows["chance"]["counting"] == pytest.approx((1 / 4 + 1 / 3) / 2)
    assert rows["chance"]["overall"] == pytest.approx((1 / 2 + 1 / 4 + 1 / 3) / 3)
    assert rows["majority answer"] == {"relative_depth": 1.0, "counting": 0.0, "overall": pytest.approx(1 / 3)}


def test_no_training_samples_is_an_error():
    with pytest.raises(ValueError, match="no training samples"):
        baselines([], [{"answer": "A"}])
