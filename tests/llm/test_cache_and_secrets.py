"""The on-disk response cache and the API key's handling (never logged, cached or put in errors)."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

from sif.llm.cache import ResponseCache, request_key
from sif.llm.client import DUMMY_KEY, LLMClient, resolve_api_key
from sif.llm.errors import LLMError, MissingAPIKeyError
from tests.fakes.openai_server import FakeOpenAIServer
from tests.llm.conftest import TEST_KEY_ENV, user

SECRET = "sk-test-PLANTED-secret-0123456789abcdef"


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_cache_hit_avoids_a_second_request(llm_cfg, tmp_path):
    with FakeOpenAIServer(lambda body: "answer") as server:
        client = LLMClient(llm_cfg(server, cache=True), cache_dir=tmp_path)
        assert client.complete(user("q")) == "answer"
        assert client.complete(user("q")) == "answer"
        assert len(server.requests) == 1
        assert client.stats.cache_hits == 1 and client.stats.requests == 1
        # another client (a new run) on the same folder hits too
        again = LLMClient(llm_cfg(server, cache=True), cache_dir=tmp_path)
        assert again.complete_many([user("q")]) == ["answer"] and len(server.requests) == 1
        # different messages or parameters miss
        client.complete(user("other"))
        client.complete(user("q"), temperature=0.5)
        assert len(server.requests) == 3


def test_cache_off_or_without_folder_always_asks(llm_cfg, tmp_path):
    with FakeOpenAIServer(lambda body: "answer") as server:
        LLMClient(llm_cfg(server, cache=False), cache_dir=tmp_path).complete_many([user("q"), user("q")])
        LLMClient(llm_cfg(server, cache=True), cache_dir=None).complete_many([user("q")])
        assert len(server.requests) == 3
    assert list(tmp_path.iterdir()) == []


def test_failures_are_not_cached(llm_cfg, tmp_path):
    with FakeOpenAIServer(lambda body: "answer", faults=["400"]) as server:
        client = LLMClient(llm_cfg(server, cache=True), cache_dir=tmp_path)
        assert isinstance(client.complete_many([user("q")])[0], LLMError)
        assert client.complete(user("q")) == "answer"
        assert len(server.requests) == 2


def test_corrupt_cache_entry_is_a_miss(llm_cfg, tmp_path):
    with FakeOpenAIServer(lambda body: "answer") as server:
        client = LLMClient(llm_cfg(server, cache=True), cache_dir=tmp_path)
        client.complete(user("q"))
        (entry,) = [p for p in tmp_path.rglob("*.json")]
        entry.write_text("{truncated", encoding="utf-8")
        assert client.complete(user("q")) == "answer"
        assert len(server.requests) == 2


def test_request_key_ignores_nothing_that_matters():
    msgs = user("q")
    k = request_key("http://h/v1", "m", msgs, {"temperature": 0.0})
    assert k == request_key("http://h/v1/", "m", msgs, {"temperature": 0.0})
    assert k != request_key("http://other/v1", "m", msgs, {"temperature": 0.0})
    assert k != request_key("http://h/v1", "m2", msgs, {"temperature": 0.0})
    assert k != request_key("http://h/v1", "m", user("q2"), {"temperature": 0.0})
    assert k != request_key("http://h/v1", "m", msgs, {"temperature": 0.1})
    cache = ResponseCache("/nonexistent-dir-for-test")
    assert cache.get(k) is None


def test_key_is_sent_but_never_cached_logged_or_raised(llm_cfg, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(TEST_KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(lambda body: "fine", faults=["500", "401", "timeout:3.0"]) as server:
        client = LLMClient(llm_cfg(server, cache=True, max_retries=1, timeout_s=1.0), cache_dir=tmp_path)
        failed = client.complete_many([user("a")])[0]  # 500, then 401: fails
        timed_out = client.complete_many([user("b")], max_tokens=3)[0]  # timeout, then answered
        ok = client.complete(user("c"))
        assert server.headers_seen[0]["authorization"] == f"Bearer {SECRET}"  # the key is used...
        spent_cfg = llm_cfg(server, budget_s=0.0)
    assert isinstance(failed, LLMError) and failed.reason == "http_401"
    assert timed_out == "fine" and ok == "fine"
    spent = LLMClient(spent_cfg, cache_dir=tmp_path).complete_many([user("z")])[0]
    assert isinstance(spent, LLMError) and spent.reason == "budget"
    # ...and appears nowhere else
    assert SECRET.encode() not in all_bytes(tmp_path)
    assert any(tmp_path.rglob("*.json"))
    for err in (failed, spent):
        text = str(err) + repr(err) + "".join(traceback.format_exception(err)) + repr(err.__dict__)
        assert SECRET not in text
    assert SECRET not in caplog.text and SECRET not in repr(client) and SECRET not in str(client.stats.to_dict())


def test_missing_key_names_the_variable_for_remote_endpoints(llm_cfg, monkeypatch):
    monkeypatch.delenv("SIF_NO_SUCH_KEY_VAR", raising=False)
    with FakeOpenAIServer() as server:
        cfg = llm_cfg(server, base_url="https://api.example.invalid/v1", api_key_env="SIF_NO_SUCH_KEY_VAR")
    with pytest.raises(MissingAPIKeyError) as err:
        LLMClient(cfg)
    assert "SIF_NO_SUCH_KEY_VAR" in str(err.value) and err.value.reason == "no_api_key"
    monkeypatch.setenv("SIF_NO_SUCH_KEY_VAR", "")  # empty counts as missing
    with pytest.raises(MissingAPIKeyError):
        resolve_api_key("SIF_NO_SUCH_KEY_VAR", None)
    monkeypatch.setenv("SIF_NO_SUCH_KEY_VAR", SECRET)
    assert resolve_api_key("SIF_NO_SUCH_KEY_VAR", "https://api.example.invalid/v1") == SECRET


def test_loopback_endpoint_runs_with_the_dummy_key(llm_cfg):
    with FakeOpenAIServer(lambda body: "local") as server:
        client = LLMClient(llm_cfg(server))  # TEST_KEY_ENV is unset
        assert client.complete(user("q")) == "local"
        assert server.headers_seen[0]["authorization"] == f"Bearer {DUMMY_KEY}"


def test_cached_reply_that_the_caller_rejects_is_asked_again(llm_cfg, tmp_path):
    replies = iter(["old", "new"])
    with FakeOpenAIServer(lambda body: next(replies)) as server:
        client = LLMClient(llm_cfg(server, cache=True), cache_dir=tmp_path)
        assert client.complete(user("q")) == "old"
        assert client.complete(user("q"), accept=lambda t: t == "new") == "new"
        assert len(server.requests) == 2 and client.stats.cache_hits == 0
        assert client.complete(user("q")) == "new"  # the accepted reply replaced the entry
