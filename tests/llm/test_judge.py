"""The judge against the fake server: the request it sends, fallbacks by reason, caching, concurrency."""

from __future__ import annotations

import logging

from PIL import Image

from sif.llm.judge import JUDGE_SYSTEM_PROMPT, Judge, JudgeItem
from tests.fakes.openai_server import FakeOpenAIServer


def item(i: int = 0, prediction: str | None = "a red cube", image: str | None = None) -> JudgeItem:
    return JudgeItem(question=f"What is left of object {i}?", reference="a red cube", prediction=prediction,
                     image=image)


def test_64_judge_requests_run_concurrently(judge_cfg):
    """The judge's calls overlap (checked at the server: no wall-clock assertion on a busy CI machine)."""
    with FakeOpenAIServer(lambda body: '{"score": 0.75}', delay_s=0.2) as server:
        judge = Judge(judge_cfg(server, max_concurrency=64))
        judge.score_many([item(-1)])  # warm-up: the openai package's lazy imports are not what we time
        scores = judge.score_many([item(i) for i in range(64)])
        assert len(server.requests) == 65
    assert scores == [0.75] * 64
    assert server.max_in_flight >= 32
    assert judge.stats.successes == 65 and judge.stats.fallbacks == 0


def test_request_content_keeps_first_char_and_sends_png_mime(judge_cfg, tmp_path):
    path = tmp_path / "rgb.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
    with FakeOpenAIServer(lambda body: '{"score": 1}') as server:
        judge = Judge(judge_cfg(server))
        assert judge.score_many([JudgeItem("Which is nearer?", "the cube", "the cube", str(path))]) == [1.0]
    (body,) = server.requests
    system, user_msg = body["messages"]
    assert system == {"role": "system", "content": JUDGE_SYSTEM_PROMPT}
    assert '{"score": 0.8}' in JUDGE_SYSTEM_PROMPT and "ONLY" in JUDGE_SYSTEM_PROMPT
    text, image = user_msg["content"]
    assert text["text"] == "Question: Which is nearer?\nStandard answer: the cube\nModel's answer: the cube"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert body["model"] == "fake-model" and body["temperature"] == 0.0


def test_missing_prediction_scores_zero_without_a_call(judge_cfg):
    with FakeOpenAIServer(lambda body: '{"score": 1}') as server:
        judge = Judge(judge_cfg(server, fallback_score=0.5))
        assert judge.score_many([item(prediction=None), item(prediction=None)]) == [0.0, 0.0]
        assert server.requests == []
    assert judge.stats.skipped == 2 and judge.stats.fallbacks == 0


def test_garbage_replies_fall_back_counted_and_logged(judge_cfg, caplog):
    caplog.set_level(logging.WARNING, logger="sif.llm")
    with FakeOpenAIServer(lambda body: "I think it is mostly right.") as server:
        judge = Judge(judge_cfg(server, fallback_score=0.25, max_retries=1))
        scores = judge.score_many([item(i) for i in range(3)])
        assert len(server.requests) == 6  # unparseable replies are retried once each
    assert scores == [0.25, 0.25, 0.25]
    assert judge.stats.fallbacks == 3 and judge.stats.fallback_reasons == {"unparseable": 3}
    assert "fallback" in caplog.text and "unparseable=3" in caplog.text


def test_server_errors_fall_back_by_reason(judge_cfg):
    with FakeOpenAIServer(lambda body: '{"score": 0.9}', faults=["500", "400"]) as server:
        judge = Judge(judge_cfg(server, max_retries=0, max_concurrency=1))
        scores = judge.score_many([item(0), item(1), item(2)])
    assert scores == [0.0, 0.0, 0.9]
    assert judge.stats.fallback_reasons == {"http_500": 1, "http_400": 1}


def test_unreadable_image_falls_back_without_a_call(judge_cfg, tmp_path):
    with FakeOpenAIServer(lambda body: '{"score": 1}') as server:
        judge = Judge(judge_cfg(server, fallback_score=0.1))
        scores = judge.score_many([item(0, image=str(tmp_path / "gone.png")), item(1)])
        assert len(server.requests) == 1
    assert scores == [0.1, 1.0] and judge.stats.fallback_reasons == {"image": 1}


def test_garbage_is_not_cached_but_scores_are(judge_cfg, tmp_path):
    with FakeOpenAIServer(lambda body: "no idea") as server:
        Judge(judge_cfg(server, cache=True, max_retries=0), cache_dir=tmp_path).score_many([item()])
    with FakeOpenAIServer(lambda body: '{"score": 0.6}') as server:
        judge = Judge(judge_cfg(server, cache=True, max_retries=0), cache_dir=tmp_path)
        assert judge.score_many([item()]) == [0.6]
        assert judge.score_many([item()]) == [0.6]
        assert len(server.requests) == 1 and judge.stats.cache_hits == 1


def test_mixed_batch_keeps_order(judge_cfg):
    def responder(body: dict) -> str:
        text = body["messages"][1]["content"][0]["text"]
        return '{"score": 1}' if "object 1?" in text else "```json\n{\"score\": 0.5}\n```"

    with FakeOpenAIServer(responder, delay_s=0.05) as server:
        judge = Judge(judge_cfg(server))
        assert judge.score_many([item(0), item(1), item(2, prediction=None), item(3)]) == [0.5, 1.0, 0.0, 0.5]
        assert judge.score_many([]) == []
