"""The fake OpenAI server itself: routes, response shape, fault script, concurrency."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fakes.openai_server import FakeOpenAIServer


def post(server: FakeOpenAIServer, body: dict, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(f"{server.base_url}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer t"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_chat_completion_has_the_standard_shape_and_is_recorded():
    with FakeOpenAIServer(lambda body: body["messages"][-1]["content"].upper()) as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        status, _, raw = post(server, {**BODY, "n": 2})
    data = json.loads(raw)
    assert status == 200 and data["object"] == "chat.completion" and data["model"] == "m"
    assert [c["message"]["content"] for c in data["choices"]] == ["HI", "HI"]
    assert data["choices"][0]["message"]["role"] == "assistant" and "usage" in data
    assert server.requests == [{**BODY, "n": 2}]
    assert server.headers_seen[0]["authorization"] == "Bearer t"


def test_models_route_and_unknown_routes():
    with FakeOpenAIServer(model="served") as server:
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as resp:
            assert json.loads(resp.read())["data"][0]["id"] == "served"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.base_url}/nothing", timeout=5)
        err.value.close()
        assert err.value.code == 404


def test_faults_are_consumed_in_order_before_normal_answers():
    with FakeOpenAIServer(faults=["500", "429", "503:0.7", "nonjson", "empty", "ok", "418"]) as server:
        replies = [post(server, BODY) for _ in range(8)]
        assert server.faults_left == 0
    assert [r[0] for r in replies] == [500, 429, 503, 200, 200, 200, 418, 200]
    assert replies[1][1]["Retry-After"] == "0.1" and replies[2][1]["Retry-After"] == "0.7"
    assert "Retry-After" not in replies[0][1]
    assert json.loads(replies[0][2])["error"]["code"] == "500"
    with pytest.raises(ValueError):
        json.loads(replies[3][2])
    assert json.loads(replies[4][2])["choices"][0]["message"]["content"] is None
    assert json.loads(replies[5][2])["choices"][0]["message"]["content"] == "ok"


def test_drop_closes_without_response_and_timeout_and_slow_delay():
    with FakeOpenAIServer(faults=["drop", "timeout:0.6", "slow:0.3"]) as server:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
            post(server, BODY)
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            post(server, BODY, timeout=0.2)
        assert post(server, BODY)[0] == 200  # after the slow fault's delay
        assert server.faults_left == 0 and len(server.requests) == 3


def test_unknown_fault_is_refused_when_scripting():
    with pytest.raises(ValueError):
        FakeOpenAIServer(faults=["explode"])
    with FakeOpenAIServer() as server:
        with pytest.raises(ValueError):
            server.add_faults("slow:abc")


def test_responder_errors_become_500():
    def broken(body: dict) -> str:
        raise RuntimeError("boom")

    with FakeOpenAIServer(broken) as server:
        status, _, raw = post(server, BODY)
    assert status == 500 and "boom" in json.loads(raw)["error"]["message"]


def test_64_parallel_requests_are_served_concurrently():
    with FakeOpenAIServer(delay_s=0.2) as server:
        with ThreadPoolExecutor(64) as pool:
            statuses = [r[0] for r in pool.map(lambda _: post(server, BODY), range(64))]
    assert statuses == [200] * 64 and server.served == 64
    assert server.max_in_flight >= 32  # overlapping requests, counted by the server
