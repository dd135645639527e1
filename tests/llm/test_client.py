"""LLMClient against the fake server: retries, no-retry statuses, timeouts, budget, concurrency, loops."""

from __future__ import annotations

import asyncio
import json
from email.utils import formatdate

import pytest

from sif.llm.client import LLMClient, is_loopback_url, parse_retry_after
from sif.llm.errors import CallStats, LLMError
from tests.fakes.openai_server import FakeOpenAIServer
from tests.llm.conftest import user


def echo(body: dict) -> str:
    return "echo:" + body["messages"][-1]["content"]


@pytest.mark.parametrize("fault, reason", [
    ("500", "http_500"), ("503", "http_503"), ("502", "http_502"), ("429", "http_429"), ("408", "http_408"),
    ("409", "http_409"), ("timeout:3.0", "timeout"), ("drop", "connection"), ("nonjson", "bad_reply"),
    ("html", "bad_reply"), ("empty", "empty"),
])
def test_retries_then_succeeds(llm_cfg, fault, reason):
    with FakeOpenAIServer(echo, faults=[fault]) as server:
        client = LLMClient(llm_cfg(server, timeout_s=1.0))
        assert client.complete_many([user("a")]) == ["echo:a"]
        assert len(server.requests) == 2
    s = client.stats
    assert (s.requests, s.successes, s.retries, s.failures) == (1, 1, 1, 0)
    assert s.errors == {reason: 1}


def test_several_faults_in_a_row_then_success(llm_cfg):
    with FakeOpenAIServer(echo, faults=["500", "drop", "empty", "nonjson"]) as server:
        client = LLMClient(llm_cfg(server, max_retries=4))
        assert client.complete(user("x")) == "echo:x"
    assert client.stats.retries == 4 and sum(client.stats.errors.values()) == 4


@pytest.mark.parametrize("fault", ["400", "401", "403", "404", "422"])
def test_client_errors_are_not_retried(llm_cfg, fault):
    with FakeOpenAIServer(echo, faults=[fault]) as server:
        client = LLMClient(llm_cfg(server))
        (result,) = client.complete_many([user("a")])
        assert len(server.requests) == 1
    assert isinstance(result, LLMError) and result.reason == f"http_{fault}"
    assert client.stats.failures == 1 and client.stats.retries == 0


def test_gives_up_after_max_retries(llm_cfg):
    with FakeOpenAIServer(echo, faults=["500"] * 5) as server:
        client = LLMClient(llm_cfg(server, max_retries=2))
        with pytest.raises(LLMError) as err:
            client.complete(user("a"))
        assert len(server.requests) == 3
    assert err.value.reason == "http_500" and "3 attempts" in str(err.value)
    assert client.stats.errors == {"http_500": 3} and client.stats.failures == 1


# No test here asserts on wall-clock time (CI runs on a busy machine): waits are checked through the client's
# own record of its backoff sleeps, and concurrency through the order and overlap of the server's requests.
@pytest.mark.parametrize("fault, wait", [("429:0.4", 0.4), ("503:0.3", 0.3)])
def test_retry_after_is_honoured(llm_cfg, fault, wait):
    with FakeOpenAIServer(echo, faults=[fault]) as server:
        client = LLMClient(llm_cfg(server, backoff_base_s=0.0, backoff_max_s=0.0))
        assert client.complete(user("a")) == "echo:a"
        assert len(server.requests) == 2
    assert client.backoff_sleeps == [pytest.approx(wait)]


def test_without_retry_after_the_backoff_is_used(llm_cfg):
    with FakeOpenAIServer(echo, faults=["500"]) as server:  # no Retry-After header
        client = LLMClient(llm_cfg(server, backoff_base_s=0.05, backoff_max_s=0.05))
        assert client.complete(user("a")) == "echo:a"
    assert len(client.backoff_sleeps) == 1 and 0.0 <= client.backoff_sleeps[0] <= 0.05  # full jitter


def test_retry_after_is_ignored_on_500(llm_cfg):
    with FakeOpenAIServer(echo, faults=["500:2.0"]) as server:
        client = LLMClient(llm_cfg(server, backoff_base_s=0.0, backoff_max_s=0.0))
        assert client.complete(user("a")) == "echo:a"
    assert client.backoff_sleeps == [0.0]  # the backoff (0 here), not the 2 s the 500 asked for


def test_per_request_timeout_is_enforced(llm_cfg):
    with FakeOpenAIServer(echo, faults=["timeout:3.0"]) as server:  # the server would answer after 3 s
        client = LLMClient(llm_cfg(server, timeout_s=0.3, max_retries=0))
        with pytest.raises(LLMError) as err:
            client.complete(user("a"))
    assert err.value.reason == "timeout" and client.stats.errors == {"timeout": 1}


def test_budget_cuts_a_hanging_request_short(llm_cfg):
    with FakeOpenAIServer(echo, faults=["timeout:5.0"] * 10) as server:
        client = LLMClient(llm_cfg(server, timeout_s=30.0, budget_s=0.5, max_retries=5))
        results = client.complete_many([user("a"), user("b")])
    # a 30 s request timeout, yet both end as "budget": the budget, not the timeout, cut them
    assert all(isinstance(r, LLMError) and r.reason == "budget" for r in results)
    assert client.backoff_sleeps == []


def test_spent_budget_fails_fast_without_a_request(llm_cfg):
    with FakeOpenAIServer(echo) as server:
        client = LLMClient(llm_cfg(server, budget_s=0.0))
        results = client.complete_many([user(str(i)) for i in range(20)])
        assert server.requests == []
    assert [r.reason for r in results] == ["budget"] * 20  # type: ignore[union-attr]
    assert client.stats.errors == {"budget": 20} and client.backoff_sleeps == []


def test_backoff_that_would_overrun_the_budget_fails_fast(llm_cfg):
    with FakeOpenAIServer(echo, faults=["429:30"]) as server:
        client = LLMClient(llm_cfg(server, budget_s=2.0))
        with pytest.raises(LLMError) as err:
            client.complete(user("a"))
        assert len(server.requests) == 1
    assert err.value.reason == "budget" and client.backoff_sleeps == []  # it never started the 30 s wait


def test_concurrency_is_bounded_and_order_kept(llm_cfg):
    with FakeOpenAIServer(echo, delay_s=0.1) as server:
        client = LLMClient(llm_cfg(server, max_concurrency=4))
        results = client.complete_many([user(str(i)) for i in range(16)])
    assert results == [f"echo:{i}" for i in range(16)]
    assert server.max_in_flight == 4


def test_backoff_sleep_does_not_hold_a_concurrency_slot(llm_cfg):
    with FakeOpenAIServer(echo, faults=["429:1.0"]) as server:
        client = LLMClient(llm_cfg(server, max_concurrency=1))
        results = client.complete_many([user("a"), user("b")])
        order = [body["messages"][-1]["content"] for body in server.requests]
    assert results == ["echo:a", "echo:b"]
    assert order == ["a", "b", "a"]  # "b" went out while "a" waited out its Retry-After


def test_params_and_overrides_reach_the_server(llm_cfg):
    with FakeOpenAIServer(echo) as server:
        client = LLMClient(llm_cfg(server, temperature=0.0, max_tokens=77))
        client.complete(user("a"))
        client.complete(user("b"), temperature=0.9, max_tokens=5, seed=3)
    first, second = server.requests
    assert (first["model"], first["temperature"], first["max_tokens"]) == ("fake-model", 0.0, 77)
    assert (second["temperature"], second["max_tokens"], second["seed"]) == (0.9, 5, 3)


def test_accept_rejects_retry_and_finally_fail(llm_cfg):
    replies = iter(["bad", "good"])
    with FakeOpenAIServer(lambda body: next(replies)) as server:
        client = LLMClient(llm_cfg(server))
        assert client.complete(user("a"), accept=lambda t: t == "good") == "good"
        assert len(server.requests) == 2
    with FakeOpenAIServer(lambda body: "bad") as server:
        client = LLMClient(llm_cfg(server, max_retries=1))
        with pytest.raises(LLMError) as err:
            client.complete(user("a"), accept=lambda t: t == "good")
    assert err.value.reason == "rejected" and client.stats.errors == {"rejected": 2}


def test_complete_many_works_inside_a_running_loop(llm_cfg):
    with FakeOpenAIServer(echo) as server:
        client = LLMClient(llm_cfg(server))

        async def caller() -> list:
            return client.complete_many([user("a"), user("b")])

        assert asyncio.run(caller()) == ["echo:a", "echo:b"]
        assert client.complete_many([user("c")]) == ["echo:c"]  # and again from plain sync code


def test_acomplete_in_the_callers_loop(llm_cfg):
    with FakeOpenAIServer(echo) as server:
        client = LLMClient(llm_cfg(server))

        async def main() -> list[str]:
            try:
                return list(await asyncio.gather(client.acomplete(user("a")), client.acomplete(user("b"))))
            finally:
                await client.aclose()

        assert asyncio.run(main()) == ["echo:a", "echo:b"]


def test_shared_stats_and_json_dict(llm_cfg):
    stats = CallStats()
    with FakeOpenAIServer(echo, faults=["500"]) as server:
        LLMClient(llm_cfg(server), stats=stats).complete(user("a"))
        LLMClient(llm_cfg(server), stats=stats).complete(user("b"))
    d = json.loads(json.dumps(stats.to_dict()))
    assert d["requests"] == 2 and d["successes"] == 2 and d["errors"] == {"http_500": 1}
    assert "_lock" not in d


def test_backoff_is_full_jitter_and_capped(llm_cfg):
    with FakeOpenAIServer() as server:
        client = LLMClient(llm_cfg(server, backoff_base_s=0.5, backoff_max_s=3.0))
    for attempt, cap in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 3.0), (10, 3.0), (500, 3.0)]:
        draws = [client.backoff_s(attempt) for _ in range(300)]
        assert all(0.0 <= d <= cap for d in draws)
        assert max(draws) > 0.6 * cap and min(draws) < 0.4 * cap  # spread over the whole range


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "-3"}) == 0.0
    now = 1_800_000_000.0  # a fixed clock: an HTTP date 10 s ahead is exactly 10 s, on any machine
    assert parse_retry_after({"retry-after": formatdate(now + 10, usegmt=True)}, now=now) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


@pytest.mark.parametrize("url, loop", [
    ("http://127.0.0.1:8000/v1", True), ("http://localhost/v1", True), ("http://127.5.0.1/v1", True),
    ("http://[::1]:8000/v1", True), ("https://api.openai.com/v1", False), ("http://10.0.0.1/v1", False),
    ("http://localhost.evil.com/v1", False), (None, False), ("", False), ("not a url", False),
])
def test_is_loopback_url(url, loop):
    assert is_loopback_url(url) is loop


def test_importing_sif_llm_does_not_import_openai():
    import subprocess
    import sys

    code = "import sys, sif.llm; assert 'openai' not in sys.modules, 'openai imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_accepts_an_omegaconf_config(llm_cfg):
    from omegaconf import OmegaConf

    from sif.config.common import LLMClientConfig

    with FakeOpenAIServer(echo) as server:
        cfg = OmegaConf.structured(LLMClientConfig(base_url=server.base_url, api_key_env="SIF_TEST_LLM_KEY"))
        assert LLMClient(cfg).complete(user("a")) == "echo:a"
