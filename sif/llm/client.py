"""A thin OpenAI-compatible chat client: bounded concurrency, our own retries, a budget, a response cache.

The `openai` package does the HTTP; its own retries are off (`max_retries=0`) so that every retry is ours,
counted in `CallStats` and subject to the budget. Retried: timeouts, connection errors, HTTP 408/409/429/5xx,
replies that are not a chat completion ("bad_reply") and empty content ("empty"). Not retried: other 4xx.
Backoff is exponential with full jitter (`uniform(0, min(backoff_max_s, backoff_base_s * 2**k))`); a
`Retry-After` header on 429/503 replaces it.

The API key is read from the environment variable NAMED by `cfg.api_key_env`; it is kept in memory only
and scrubbed from every message this module builds. Local endpoints (loopback `base_url`) may run without
a key (the dummy "EMPTY" is sent, as `vllm serve` expects).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from sif.llm.cache import ResponseCache, request_key
from sif.llm.errors import CallStats, LLMError, MissingAPIKeyError

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429})
RETRY_AFTER_STATUS = frozenset({429, 503})
MAX_RETRY_AFTER_S = 120.0  # a server asking for more is honoured up to this
DUMMY_KEY = "EMPTY"


def is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        host = urlparse(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_api_key(api_key_env: str | None, base_url: str | None) -> str:
    """The key from the environment variable named `api_key_env`; "EMPTY" for a loopback endpoint."""
    value = os.environ.get(api_key_env) if api_key_env else None
    if value:
        return value
    if is_loopback_url(base_url):
        return DUMMY_KEY
    where = base_url or "the default OpenAI endpoint"
    raise MissingAPIKeyError(
        f"environment variable {api_key_env!r} (named by api_key_env) is not set; it must hold the API key "
        f"for {where}"
    )


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds asked by `retry-after-ms` / `retry-after` (seconds or an HTTP date, counted from `now`, default the
    current time), or None."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - (time.time() if now is None else now))
    except (TypeError, ValueError, OverflowError):
        return None


class _Attempt(Exception):
    """One failed attempt (internal): reason, whether to retry, and a server-asked wait."""

    def __init__(self, reason: str, message: str, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.retry, self.retry_after = reason, message, retry, retry_after


class _LoopState:
    """What is bound to one event loop: the HTTP client and the concurrency semaphore."""

    def __init__(self, client: Any, limit: int) -> None:
        self.client = client
        self.semaphore = asyncio.Semaphore(limit)


class LLMClient:
    """Chat completions against one OpenAI-compatible endpoint.

    `cfg` is an `LLMClientConfig`-like object (attributes base_url, model, api_key_env, max_concurrency,
    timeout_s, max_retries, backoff_base_s, backoff_max_s, budget_s, temperature, max_tokens, cache).
    The cache is used when `cfg.cache` is true and `cache_dir` is given. `max_concurrency` bounds the
    requests in flight per event loop (each `complete_many` call runs one loop).
    """

    def __init__(self, cfg: Any, cache_dir: str | Path | None = None, stats: CallStats | None = None) -> None:
        self.cfg = cfg
        self.base_url: str | None = cfg.base_url or None
        self.model: str = str(cfg.model)
        self._api_key = resolve_api_key(getattr(cfg, "api_key_env", None), self.base_url)
        self.stats = stats if stats is not None else CallStats()
        self.cache = ResponseCache(cache_dir) if (cache_dir is not None and bool(cfg.cache)) else None
        self.max_concurrency = max(1, int(cfg.max_concurrency))
        self.timeout_s = float(cfg.timeout_s)
        self.max_retries = max(0, int(cfg.max_retries))
        self.backoff_base_s = float(cfg.backoff_base_s)
        self.backoff_max_s = float(cfg.backoff_max_s)
        budget = getattr(cfg, "budget_s", None)
        self.deadline: float | None = None if budget is None else time.monotonic() + float(budget)
        self._rng = random.Random()
        self.backoff_sleeps: list[float] = []  # every retry wait, in seconds, in order (what the tests check)
        self._states: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()
        self._states_lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"LLMClient(base_url={self.base_url!r}, model={self.model!r})"

    # ----------------------------------------------------------------------------------------- helpers
    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key != DUMMY_KEY:
            text = text.replace(self._api_key, "***")
        return text[:300]

    def remaining_s(self) -> float | None:
        """Seconds left in the budget (None = no budget)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._states_lock:
            state = self._states.get(loop)
            if state is None:
                state = _LoopState(self._make_http_client(), self.max_concurrency)
                self._states[loop] = state
            return state

    def _make_http_client(self) -> Any:
        import openai

        kwargs: dict[str, Any] = {}
        if is_loopback_url(self.base_url):  # a proxy from the environment must not catch local servers
            kwargs["http_client"] = openai.DefaultAsyncHttpxClient(trust_env=False, timeout=self.timeout_s)
        return openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s, **kwargs
        )

    async def aclose(self) -> None:
        """Close the HTTP client bound to the running loop (if any)."""
        loop = asyncio.get_running_loop()
        with self._states_lock:
            state = self._states.pop(loop, None)
        if state is not None:
            await state.client.close()

    def params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The request parameters: model, temperature, max_tokens from cfg, then `overrides`."""
        out: dict[str, Any] = {
            "model": self.model, "temperature": float(self.cfg.temperature), "max_tokens": int(self.cfg.max_tokens),
        }
        out.update({k: v for k, v in overrides.items() if v is not None})
        return out

    def backoff_s(self, attempt: int) -> float:
        cap = min(self.backoff_max_s, self.backoff_base_s * (2 ** min(attempt, 30)))
        return self._rng.uniform(0.0, max(0.0, cap))

    # ----------------------------------------------------------------------------------------- calls
    async def acomplete(self, messages: list[dict], *, accept: Callable[[str], bool] | None = None,
                        **overrides: Any) -> str:
        """The text of one chat completion; retries as configured, else raises LLMError.

        `accept(text)` false makes a reply count as failed (reason "rejected"; retried, never cached).
        `overrides` are request parameters (temperature, max_tokens, model, seed, ...)."""
        params = self.params(overrides)
        key = request_key(self.base_url, params["model"], messages, params) if self.cache else None
        if key is not None and self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None and (accept is None or accept(cached)):
                self.stats.add("cache_hits")
                return cached
        self.stats.add("requests")
        attempts = self.max_retries + 1
        failure: _Attempt | None = None
        for attempt in range(attempts):
            try:
                text = await self._attempt(messages, params)
                if accept is not None and not accept(text):
                    raise _Attempt("rejected", "the reply was rejected by the caller's check", retry=True)
            except _Attempt as exc:
                failure = exc
                self.stats.error(exc.reason)
                if not exc.retry or attempt == attempts - 1:
                    break
                delay = exc.retry_after if exc.retry_after is not None else self.backoff_s(attempt)
                remaining = self.remaining_s()
                if remaining is not None and delay >= remaining:
                    failure = _Attempt("budget", f"budget would run out during a {delay:.2f}s backoff "
                                       f"after {exc.reason}", retry=False)
                    self.stats.error("budget")
                    break
                log.debug("retry %d/%d in %.2fs after %s", attempt + 1, self.max_retries, delay, exc.reason)
                self.stats.add("retries")
                self.backoff_sleeps.append(float(delay))
                await asyncio.sleep(delay)
            else:
                self.stats.add("successes")
                if key is not None and self.cache is not None:
                    self.cache.put(key, text, params["model"])
                return text
        assert failure is not None
        self.stats.add("failures")
        tried = f" (after {attempt + 1} attempt{'s' if attempt else ''})"
        raise LLMError(failure.reason, self._scrub(failure.message) + tried)

    async def _attempt(self, messages: list[dict], params: dict[str, Any]) -> str:
        state = self._state()
        async with state.semaphore:
            remaining = self.remaining_s()
            if remaining is not None and remaining <= 0:
                raise _Attempt("budget", "the client's budget_s is spent", retry=False)
            timeout = self.timeout_s if remaining is None else min(self.timeout_s, remaining)
            try:
                reply = await asyncio.wait_for(
                    state.client.chat.completions.create(messages=messages, timeout=timeout, **params),
                    timeout=timeout,  # bounds a trickling reply too (the HTTP timeout is per read)
                )
            except Exception as exc:  # classified below; anything unknown propagates
                raise self._classify(exc, capped=timeout < self.timeout_s) from None
        return self._text(reply)

    def _classify(self, exc: Exception, capped: bool) -> Exception:
        import openai

        if isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError)):
            if capped:
                return _Attempt("budget", "the client's budget_s ran out during a request", retry=False)
            return _Attempt("timeout", f"no reply within {self.timeout_s:g}s", retry=True)
        if isinstance(exc, openai.APIConnectionError):
            return _Attempt("connection", f"connection failed ({type(exc).__name__})", retry=True)
        if isinstance(exc, openai.APIStatusError):
            code = int(exc.status_code)
            retry = code in RETRY_STATUS or code >= 500
            after = parse_retry_after(exc.response.headers) if code in RETRY_AFTER_STATUS else None
            if after is not None:
                after = min(after, MAX_RETRY_AFTER_S)
            body = getattr(exc, "message", "") or ""
            return _Attempt(f"http_{code}", f"HTTP {code}: {body}", retry=retry, retry_after=after)
        if isinstance(exc, (openai.OpenAIError, ValueError)):  # incl. JSON decode / response validation
            return _Attempt("bad_reply", f"unreadable reply ({type(exc).__name__})", retry=True)
        return exc

    @staticmethod
    def _text(reply: Any) -> str:
        choices = getattr(reply, "choices", None)
        if not choices:
            raise _Attempt("bad_reply", f"not a chat completion ({type(reply).__name__})", retry=True)
        message = getattr(choices[0], "message", None)
        content = getattr(message, "content", None)
        if not isinstance(content, str) or not content.strip():
            raise _Attempt("empty", "the reply has no content", retry=True)
        return content

    async def _safe(self, messages: list[dict], accept: Callable[[str], bool] | None,
                    overrides: dict[str, Any]) -> str | LLMError:
        try:
            return await self.acomplete(messages, accept=accept, **overrides)
        except LLMError as exc:
            return exc

    def complete_many(self, batch: list[list[dict]], *, accept: Callable[[str], bool] | None = None,
                      **overrides: Any) -> list[str | LLMError]:
        """All conversations of `batch` concurrently (at most max_concurrency in flight); in order, each a
        text or the LLMError it ended with. Callable from sync code, also while this thread runs a loop
        (then the batch runs on a fresh loop in a worker thread)."""
        if not batch:
            return []

        async def run_all() -> list[str | LLMError]:
            try:
                return list(await asyncio.gather(*(self._safe(m, accept, overrides) for m in batch)))
            finally:
                await self.aclose()

        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        if not in_loop:  # outside the except block: errors must not chain "no running event loop"
            return asyncio.run(run_all())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sif-llm") as pool:
            return pool.submit(asyncio.run, run_all()).result()

    def complete(self, messages: list[dict], *, accept: Callable[[str], bool] | None = None,
                 **overrides: Any) -> str:
        """One conversation, synchronously; raises LLMError."""
        result = self.complete_many([messages], accept=accept, **overrides)[0]
        if isinstance(result, LLMError):
            raise result
        return result
