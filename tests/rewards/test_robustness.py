"""Untrusted output: every reward gives a finite value in its documented range for any completion.

Property tests (2000 examples each) over arbitrary text and mutated valid chains (NaN/inf/huge/negative
numbers, broken tags and JSON, repeated blocks, truncation), in both modes; enormous inputs with a time bound.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sif.chain import MAX_AREAS
from tests.rewards.fuzz import PROPS, check_all, make_env, mutated_chain
from tests.rewards.helpers import FULL, chain, conv


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("depth"))


@PROPS
@given(st.text(max_size=300))
def test_any_text(env, text):
    check_all(env, [text, conv(text)])


@PROPS
@given(mutated_chain())
def test_mutated_chains(env, text):
    check_all(env, [text, conv(text)])


def test_enormous_inputs_are_bounded(env):
    area = '[{"bbox_2d":[0.100,0.100,0.900,0.900],"depth":0.500}]'
    huge_area = "[" + ",".join(['{"bbox_2d":[0.1,0.1,0.9,0.9],"depth":0.5}'] * 2000) + "]"
    cases = [
        chain([[(FULL, 0.5)]] * (MAX_AREAS + 500)),  # over a thousand areas
        chain([huge_area]),  # thousands of boxes in one area
        chain([[(FULL, 0.5)]] * 10 + ['[{"bbox_2d":[0.1,0.1,0.9,0.9],"depth":0.5}]' * 1]
              + ["[" + ",".join([f'{{"bbox_2d":[0.{i % 9}1,0.1,0.9,0.9],"depth":0.5}}' for i in range(300)]) + "]"]),
        "<think><area>" + "[" * 100_000 + "</area><text>t</text></think><answer>a</answer>",  # deep JSON
        "x" * 2_000_000,  # far over the length caps
        chain([area]) * 2000,  # the whole chain repeated
        "<area>" * 200_000,
        chain([f'[{{"bbox_2d":[0.1,0.1,0.9,{"9" * 5000}],"depth":1e999}}]']),
    ]
    t0 = time.perf_counter()
    check_all(env, cases)
    check_all(env, cases, judge=True)
    elapsed = time.perf_counter() - t0
    print(f"enormous inputs: {elapsed:.2f} s for {len(cases)} completions, all rewards, both modes")
