"""Untrusted columns and judge replies: odd dataset values and any judge output keep rewards in range."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.rewards.fuzz import PROPS, G, check_all, make_env, mutated_chain
from tests.rewards.helpers import FULL, chain


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("depth"))


ODD_COLUMNS = st.fixed_dictionaries({
    "gt_boxes": st.sampled_from([[G], [], None, "junk", [[math.nan, 0, 1, 1]], [[2, 2, 3, 3]], [G] * 300,
                                 [[0.5, 0.5, 0.1, 0.1]], [["a", 0, 1, 1]], [G, [0, 0, 1, 1]]]),
    "depth": st.sampled_from([None, "/nonexistent/d.npy", 7, ""]),
    "answer": st.sampled_from(["yes", None, 3, "", "B", "1e400"]),
    "choices": st.sampled_from([None, ["a", "b"], "notalist", [], [1, 2]]),
    "id": st.sampled_from(["a", None, 5, True, ["x"], {"k": 1}]),
    "question": st.sampled_from(["Q?", None, "", 12]),
})


@PROPS
@given(mutated_chain(), ODD_COLUMNS)
def test_odd_dataset_columns(env, text, cols):
    check_all(env, [text], **cols)


@PROPS
@given(st.lists(st.one_of(st.floats(), st.integers(-10**30, 10**30), st.none(), st.text(max_size=5)),
                min_size=3, max_size=3))
def test_judge_returning_anything(env, scores):
    env["judge"].table = {"a": scores[0], "b": scores[1], "c": scores[2]}
    check_all(env, [chain([[(FULL, 0.5)]], x) for x in "abc"], judge=True)
