"""parse_score: the judge reply parser never raises, never evaluates, and always lands in [0, 1]."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sif.llm.judge import parse_score


@pytest.mark.parametrize("reply, score", [
    ('{"score": 0.8}', 0.8),
    ('{"score":1}', 1.0),
    ("0.5", 0.5),
    ("  0  ", 0.0),
    ('```json\n{"score": 0.7}\n```', 0.7),
    ('```JSON {"score": 0.25} ```', 0.25),
    ("```\n0.3\n```", 0.3),
    ('Here is my verdict:\n```json\n{"score": 0.6}\n```\nThanks.', 0.6),
    ('The answer is close. {"score": 0.9}', 0.9),
    ('{"score": "0.4"}', 0.4),
    ('{"score": 1.7}', 1.0),
    ('{"score": -2}', 0.0),
    ("-0.0", 0.0),
    ("12", 1.0),
    ('{"score": 0.5, "reason": "partly right"}', 0.5),
    ('{"score": ' + "9" * 400 + "}", 1.0),
])
def test_parse_score_accepts(reply, score):
    got = parse_score(reply)
    assert got == pytest.approx(score) and 0.0 <= got <= 1.0
    assert math.copysign(1.0, got) == 1.0  # never -0.0


@pytest.mark.parametrize("reply", [
    None, "", "   ", "garbage", "score: 0.8", "NaN", '{"score": NaN}', "Infinity", '{"score": -Infinity}',
    '{"score": 1e400}', "true", '{"score": true}', '{"score": null}', '{"score": [0.5]}', '{"grade": 0.5}',
    "[0.5]", '"0.5"', '{"score": "nan"}', '{"score": "inf"}', '{"score": "high"}', "1" * 5000,
    '{"score": 0.2} {"score": 0.9}', "```json\n{broken\n```", '{"score": 0.5', "__import__('os')",
    '{"score": "' + "1" * 100 + '"}', 12345,
])
def test_parse_score_refuses(reply):
    assert parse_score(reply) is None


def _check(reply: object) -> None:
    score = parse_score(reply)  # type: ignore[arg-type]
    assert score is None or (isinstance(score, float) and 0.0 <= score <= 1.0 and math.isfinite(score))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_parse_score_total_on_any_text(reply):
    _check(reply)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["score", "s", "x"]), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from(["{}", "```json\n{}\n```", "note: {} end", "```{}```"]))
def test_parse_score_total_on_json_like_text(value, frame):
    _check(frame.format(json.dumps(value)))
    _check(frame.format(json.dumps({"score": value})))


def test_parse_score_refuses_adversarial_input():
    """Its speed is measured by benchmarks/hostile_inputs.py, not asserted here."""
    for text in ["```" * 30000, "{" * 100000, "{}" * 50000, "```json" + "{" * 90000, "[" * 100000]:
        assert parse_score(text) is None
