"""Records of untrusted origin: the one reader of record files (JSON array, JSONL, parquet), the one
`Rejection` and the one ledger of what was not used.

Every file the project reads records from - samples.jsonl (sft, grpo, eval), importer inputs (VisCoT,
TallyQA, SIF-50K) and benchmark releases - goes through `json_records`: a problem with the whole file raises
a `SampleError`; a bad record (malformed line, absurd nesting, not an object, a repeated id) is yielded as a
`SampleError` in its place, so each caller applies its own strict / skip rule and nothing good is lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

from sif.data.schema import Sample, SampleError

MAX_EXAMPLES = 50  # details kept for the run summary
_JSON_ERRORS = (UnicodeDecodeError, json.JSONDecodeError, RecursionError)  # RecursionError: absurd nesting


@dataclass
class Rejection:
    """A record, reply or sample that was not used: whose it is, a short reason key, and the detail."""

    id: str
    reason: str  # a short key: bad_record, image_missing, chain_invalid, too_long, grammar, api_error, ...
    detail: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "reason": self.reason, "detail": self.detail}


def count_by_reason(rejected: list[Rejection]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rejected:
        out[r.reason] = out.get(r.reason, 0) + 1
    return out


def ids_by_reason(rejected: list[Rejection], limit: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in rejected:
        ids = out.setdefault(r.reason, [])
        if len(ids) < limit:
            ids.append(r.id)
    return dict(sorted(out.items()))


def write_rejections(path: Path, rejected: list[Rejection]) -> None:
    from sif.io import write_jsonl

    write_jsonl(path, [r.to_dict() for r in rejected])


@dataclass
class RejectionLedger:
    """What a reader skipped (strict=false), by reason, for the run summary and skipped.jsonl."""

    rejected: list[Rejection] = field(default_factory=list)

    def add(self, reason: str, detail: str = "", id: str = "") -> None:  # noqa: A002 - the record's id
        self.rejected.append(Rejection(id, reason, detail))

    @property
    def counts(self) -> dict[str, int]:
        return count_by_reason(self.rejected)

    @property
    def examples(self) -> list[str]:
        return [r.detail for r in self.rejected if r.detail][:MAX_EXAMPLES]

    @property
    def total(self) -> int:
        return len(self.rejected)


Record = Union[Any, SampleError]


def json_records(path: str | Path) -> Iterator[tuple[int, Record]]:
    """(line, or 1-based index in an array / parquet table, record or the SampleError that stands for it).
    The format: parquet by suffix, JSON lines for `.jsonl`, else a JSON array when the file starts with `[`."""
    path = Path(path)
    if not path.is_file():
        raise SampleError("file missing", str(path))
    if path.suffix == ".parquet":
        yield from _parquet_records(path)
        return
    with open(path, "rb") as fh:
        head = fh.read(1024).lstrip()
    if path.suffix != ".jsonl" and head.startswith(b"["):  # a .jsonl file is lines, whatever its first line
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except _JSON_ERRORS as exc:
            raise SampleError(f"not valid JSON ({exc.__class__.__name__}: {exc})", str(path)) from None
        if not isinstance(data, list):
            raise SampleError(f"expected a JSON array of records, got {type(data).__name__}", str(path))
        yield from enumerate(data, start=1)
        return
    with open(path, "rb") as fh:  # streamed: a samples file may not fit in memory
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield lineno, json.loads(raw.decode("utf-8"))
            except _JSON_ERRORS as exc:
                yield lineno, SampleError(f"not valid JSON ({exc.__class__.__name__})", str(path), lineno)


def object_records(path: str | Path) -> Iterator[tuple[int, Union[dict, SampleError]]]:
    """`json_records`, with every record that is not a JSON object turned into a SampleError."""
    for line, rec in json_records(path):
        if not isinstance(rec, (dict, SampleError)):
            rec = SampleError(f"expected a JSON object (got {type(rec).__name__})", str(path), line)
        yield line, rec


def sample_records(path: str | Path) -> Iterator[tuple[int, Union[Sample, SampleError]]]:
    """Schema-checked samples (`Sample.from_dict`); a repeated id is a bad record too (the first is kept)."""
    seen: set[str] = set()
    for line, rec in object_records(path):
        if isinstance(rec, SampleError):
            yield line, rec
            continue
        try:
            sample = Sample.from_dict(rec, str(path), line)
        except SampleError as err:
            yield line, err
            continue
        if sample.id in seen:
            yield line, SampleError("duplicate id", str(path), line, "id", sample.id)
            continue
        seen.add(sample.id)
        yield line, sample


def read_samples(path: str | Path, strict: bool, skipped: RejectionLedger | None = None) -> Iterator[Sample]:
    """The samples of a file of untrusted origin. strict: raise the SampleError of the first bad record (file,
    line, field); else skip it, note it in `skipped` (reason: the error's first words), and go on."""
    for _, sample in sample_records(path):
        if isinstance(sample, SampleError):
            if strict:
                raise sample
            if skipped is not None:
                skipped.add(sample.reason.split(":")[0], str(sample), sample.sample_id or "")
            continue
        yield sample


def _parquet_records(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency of datasets
        raise SampleError("reading parquet needs pandas (or export the split to JSONL)", str(path)) from None
    frame = pd.read_parquet(path)
    for i, rec in enumerate(frame.to_dict(orient="records"), start=1):
        yield i, {k: _plain(v) for k, v in rec.items()}


def _plain(value: Any) -> Any:
    """numpy arrays / scalars from pandas as Python lists / scalars."""
    if hasattr(value, "tolist") and not isinstance(value, (bytes, str)):
        return _plain(value.tolist())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
