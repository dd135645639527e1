"""The one error type of the LLM layer, and the call counters every client keeps."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


class LLMError(Exception):
    """A chat completion that did not produce text.

    `reason` is a short machine-readable tag: "timeout", "connection", "http_<code>" (e.g. "http_429"),
    "bad_reply" (not a chat completion), "empty" (no content), "budget" (the client's wall-clock budget is
    spent), "no_api_key". Messages never contain the API key.
    """

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        self.detail = message
        super().__init__(f"{reason}: {message}" if message else reason)

    def __reduce__(self):  # keep `reason` through pickling (worker processes)
        return (type(self), (self.reason, self.detail))


class MissingAPIKeyError(LLMError):
    """The environment variable named by `api_key_env` is unset for a non-local endpoint."""

    def __init__(self, message: str = "") -> None:
        super().__init__("no_api_key", message)

    def __reduce__(self):
        return (type(self), (self.detail,))


@dataclass
class CallStats:
    """Counters of one client (thread-safe increments through `add` / `error` / `fallback`).

    requests:   logical calls that went to the network (cache hits excluded)
    successes:  calls that returned text
    retries:    extra attempts after a failed one
    failures:   calls that ended in LLMError
    cache_hits: calls answered from the on-disk cache
    errors:     failed attempts by reason (every attempt counts, retried or not)
    fallbacks:  judge items that got the fallback score (see `fallback_reasons`)
    fallback_reasons: fallbacks by reason ("unparseable", "image", or an LLMError reason)
    skipped:    judge items scored without a call (no prediction)
    """

    requests: int = 0
    successes: int = 0
    retries: int = 0
    failures: int = 0
    cache_hits: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    fallback_reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def error(self, reason: str) -> None:
        with self._lock:
            self.errors[reason] = self.errors.get(reason, 0) + 1

    def fallback(self, reason: str) -> None:
        with self._lock:
            self.fallbacks += 1
            self.fallback_reasons[reason] = self.fallback_reasons.get(reason, 0) + 1

    def to_dict(self) -> dict:
        with self._lock:
            out: dict = {}
            for f in fields(self):
                if f.name.startswith("_"):
                    continue
                value = getattr(self, f.name)
                out[f.name] = dict(sorted(value.items())) if isinstance(value, dict) else value
            return out
