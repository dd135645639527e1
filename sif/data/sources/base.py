"""What a source yields, and the shared reading of untrusted JSON inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from sif.data.records import RejectionLedger, object_records
from sif.data.schema import SampleError

Box = tuple[float, float, float, float]


@dataclass
class SourceItem:
    id: str
    question: str
    answer: str  # what the chain's <answer> holds (a letter for multiple-choice)
    answer_text: str
    gt_boxes: list[Box]
    image: Optional[Path] = None  # absolute path of an existing RGB image
    rgb: Optional[np.ndarray] = None  # or the pixels of a rendered one (written by generate)
    depth: Optional[np.ndarray] = None  # exact normalized depth, when the source has it
    choices: Optional[list[str]] = None
    category: Optional[str] = None
    num_objects: Optional[int] = None
    facts: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # source fields kept in the sample
    source_file: Optional[str] = None  # where the record came from (file, line or array index), for errors
    source_line: Optional[int] = None


def import_records(cfg, convert: Callable[[Any, Path, int, dict], "SourceItem | None"]
                   ) -> Iterator[SourceItem | SampleError]:
    """The importers' one loop: each JSON-object record of `cfg.dataset.path` goes through `convert`, which
    returns a SourceItem, None (a record the source skips on purpose), or raises the SampleError naming
    the field; bad records are yielded as SampleErrors for `guarded` to apply the strict/skip rule."""
    path = Path(cfg.dataset.path)
    for line, rec in object_records(path):
        if isinstance(rec, SampleError):
            yield rec
            continue
        try:
            item = convert(cfg, path, line, rec)
        except SampleError as err:
            yield err
            continue
        if item is not None:
            yield item


def locate_image(cfg, rel: str, rec: dict, path: Path, line: int,
                 resolve: Callable[..., Path] | None = None) -> tuple[Path, tuple[int, int]]:
    """The record's image resolved under dataset.image_root and opened (size); else the `image` field error."""
    from sif.data.images import ImageProblem, image_size
    from sif.data.paths import PathEscapeError, resolve_under

    try:
        img_path = (resolve or resolve_under)(cfg.dataset.image_root, rel, cfg.dataset.allow_path_escape)
        return img_path, image_size(img_path, cfg.dataset.max_pixels)
    except (ImageProblem, PathEscapeError) as exc:
        raise field_error(rec, path, line, "image", str(exc)) from None


def guarded(items: Iterator[SourceItem | SampleError], strict: bool, skipped: RejectionLedger) -> Iterator[SourceItem]:
    """Apply the strict/skip rule to a stream where bad records appear as SampleErrors. A repeated id is bad
    input too (the first record with the id is kept): it would otherwise give two samples one id."""
    first: dict[str, str] = {}
    for item in items:
        if isinstance(item, SourceItem):
            where = ":".join(str(p) for p in (item.source_file, item.source_line) if p is not None)
            if item.id in first:
                item = SampleError(f"duplicate id (first at {first[item.id] or 'an earlier record'})",
                                   item.source_file, item.source_line, "id", item.id)
            else:
                first[item.id] = where
        if isinstance(item, SampleError):
            if strict:
                raise item
            skipped.add(item.reason.split(":")[0].split(" (")[0], str(item), item.sample_id or "")
            continue
        yield item


def field_error(rec: Any, path: Path, line: int, field_name: str, message: str) -> SampleError:
    sid = rec.get("id") if isinstance(rec, dict) else None
    return SampleError(message, str(path), line, field_name, str(sid) if sid is not None else None)
