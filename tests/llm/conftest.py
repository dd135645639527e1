"""Fixtures of the LLM tests: a config factory pointing at a FakeOpenAIServer."""

from __future__ import annotations

import logging
from typing import Any, Callable

import openai  # noqa: F401  (imported once here, so no test times the import)
import pytest

from sif.config.common import LLMClientConfig
from sif.config.data import JudgeConfig

TEST_KEY_ENV = "SIF_TEST_LLM_KEY"


@pytest.fixture(autouse=True)
def _no_key_and_quiet_http(monkeypatch):
    monkeypatch.delenv(TEST_KEY_ENV, raising=False)
    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _fast(server: Any, cls: type, **kw: Any) -> Any:
    base = dict(base_url=server.base_url, model="fake-model", api_key_env=TEST_KEY_ENV, timeout_s=2.0,
                max_retries=2, backoff_base_s=0.01, backoff_max_s=0.05, cache=False)
    base.update(kw)
    return cls(**base)


@pytest.fixture
def llm_cfg() -> Callable[..., LLMClientConfig]:
    """llm_cfg(server, **fields): an LLMClientConfig for the fake server with tiny backoffs, no cache."""
    return lambda server, **kw: _fast(server, LLMClientConfig, **kw)


@pytest.fixture
def judge_cfg() -> Callable[..., JudgeConfig]:
    return lambda server, **kw: _fast(server, JudgeConfig, **{"name": "openai", **kw})


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]
