"""Atomic file writes and resumable JSONL: no run ever leaves a truncated file that looks complete."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    A killed process leaves `path` as it was (old content or absent) plus, at worst, a `.<name>.XXXX.tmp`
    file that is never taken for the artifact. `durable`: the temporary file's data is fsynced before the
    rename, so that after a machine crash (not only a killed process) the new name never points at a file
    whose data did not reach the disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if durable:
            _fsync_file(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system without fsync (some network mounts): the rename is still atomic
        pass
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=_json_default) + "\n")


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def load_npy(path: str | os.PathLike) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def dumps_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, default=_json_default, separators=(",", ":"))


class JsonlAppender:
    """Append-only JSONL whose every line is flushed and fsynced before `append` returns.

    On open, a trailing partial line (from a process killed mid-write) is cut off, so the file always
    holds whole records. `done_ids` gives the ids already written, for resuming.
    """

    def __init__(self, path: str | os.PathLike, id_field: str = "id") -> None:
        self.path = Path(path)
        self.id_field = id_field
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self.done_ids: set[str] = set()
        for rec in read_jsonl(self.path) if self.path.exists() else ():
            if id_field in rec:
                self.done_ids.add(str(rec[id_field]))
        self._fh = open(self.path, "a", encoding="utf-8")

    def _repair_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1  # 0 when no complete line exists
        with open(self.path, "r+b") as fh:
            fh.truncate(cut)

    def append(self, record: dict) -> None:
        self._fh.write(dumps_line(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        if self.id_field in record:
            self.done_ids.add(str(record[self.id_field]))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the records of a JSONL file we wrote ourselves (trusted; see sif.data for untrusted input)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield json.loads(line)


def write_jsonl(path: str | os.PathLike, records: list[dict]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(dumps_line(rec) + "\n")
