"""On-disk response cache: one small JSON file per request, keyed by a hash of what was asked.

The key covers base_url, model, messages and sampling parameters, never the API key; files hold only the
reply text. Writes are atomic, so a crashed run never leaves a half-written entry; unreadable entries are
treated as misses.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from sif.io import write_json

log = logging.getLogger(__name__)


def request_key(base_url: str | None, model: str, messages: list[dict], params: dict[str, Any]) -> str:
    payload = {"base_url": (base_url or "").rstrip("/"), "model": model, "messages": messages, "params": params}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("ignoring unreadable cache entry %s", path)
            return None
        text = data.get("text") if isinstance(data, dict) else None
        return text if isinstance(text, str) and text.strip() else None

    def put(self, key: str, text: str, model: str) -> None:
        try:
            write_json(self.path(key), {"text": text, "model": model}, indent=None)
        except OSError as exc:  # a full disk must not fail the call that already succeeded
            log.warning("could not write cache entry %s: %s", self.path(key), type(exc).__name__)
