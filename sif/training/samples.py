"""Reading a samples.jsonl for training, and reporting every bad sample by id before any training starts.

A sample is bad when its record breaks the schema (or repeats an id), a path leaves the data root, its image
or depth map is missing or unreadable, its chain is missing or breaks the grammar (sif.chain), or - checked
later with the processor, see `drop_too_long` - it is longer than the token budget. With strict=false bad
samples are skipped and counted by reason (with their ids) for the run summary; with strict=true
`SampleReport.raise_if_bad` stops the run with the complete list.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from sif.data.images import ImageProblem
from sif.data.paths import PathEscapeError, resolve_under
from sif.data.records import Rejection, count_by_reason, ids_by_reason, sample_records, write_rejections
from sif.data.schema import Sample
from sif.views import DEFAULT_MAX_PIXELS, DepthProblem, load_pictures

log = logging.getLogger("sif.training")

Size = tuple[int, int]
MAX_IDS_PER_REASON = 100  # ids listed per reason in the summary (all are in skipped.jsonl)
MAX_IDS_IN_ERROR = 200


class BadInputError(ValueError):
    """strict=true and some samples are bad; the message lists them (id: reason: detail)."""


@dataclass
class CheckedSample:
    sample: Sample
    image: Path
    depth: Optional[Path]
    sizes: tuple[Size, ...]  # (width, height) of each picture the prompt shows, in order
    num_tokens: Optional[int] = None


@dataclass
class SampleReport:
    path: str
    read: int = 0
    kept: list[CheckedSample] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def by_reason(self) -> dict[str, int]:
        return dict(sorted(count_by_reason(self.rejected).items()))

    def ids_by_reason(self, limit: int = MAX_IDS_PER_REASON) -> dict[str, list[str]]:
        return ids_by_reason(self.rejected, limit)

    def to_summary(self) -> dict:
        return {"samples_read": self.read, "samples_used": len(self.kept), "samples_skipped": len(self.rejected),
                "skipped_by_reason": self.by_reason(), "skipped_ids": self.ids_by_reason()}

    def error_message(self) -> str:
        lines = [f"{len(self.rejected)} bad sample(s) in {self.path} (strict=true; strict=false skips and counts "
                 "them):"]
        lines += [f"  {r.id}: {r.reason}: {r.detail}" for r in self.rejected[:MAX_IDS_IN_ERROR]]
        if len(self.rejected) > MAX_IDS_IN_ERROR:
            lines.append(f"  ... and {len(self.rejected) - MAX_IDS_IN_ERROR} more")
        return "\n".join(lines)

    def raise_if_bad(self, strict: bool) -> None:
        if self.rejected and strict:
            raise BadInputError(self.error_message())
        if self.rejected:
            log.warning("skipping %d bad sample(s) of %s: %s", len(self.rejected), self.path, self.by_reason())

    def write_rejections(self, path: Path) -> None:
        write_rejections(path, self.rejected)


def _read_records(path: Path, report: SampleReport) -> list[Sample]:
    """Schema-valid samples of the file (sif.data.records); the rest become rejections ("bad_record",
    "duplicate_id")."""
    samples: list[Sample] = []
    for line, sample in sample_records(path):
        report.read += 1
        if isinstance(sample, Sample):
            samples.append(sample)
        elif sample.reason == "duplicate id":
            report.rejected.append(Rejection(sample.sample_id, "duplicate_id", f"{path}:{line}: duplicate id"))
        else:
            report.rejected.append(Rejection(sample.sample_id or f"line {line}", "bad_record", str(sample)))
    return samples


def _chain_problem(sample: Sample, paper_compat: bool) -> Optional[Rejection]:
    from sif.chain import parse_chain

    if not sample.chain or not sample.chain.strip():
        return Rejection(sample.id, "chain_missing", "the sample has no chain (the SFT target)")
    parsed = parse_chain(sample.chain, paper_compat=paper_compat)
    if not parsed.valid:
        return Rejection(sample.id, "chain_invalid", "; ".join(parsed.violations[:3]))
    return None


def _classify(exc: ImageProblem) -> str:
    what = "depth" if isinstance(exc, DepthProblem) else "image"
    return f"{what}_missing" if "missing" in exc.reason else f"{what}_unreadable"


def _check_files(sample: Sample, root: Path, allow_escape: bool, with_depth: bool,
                 max_pixels: int) -> CheckedSample | Rejection:
    try:
        image = resolve_under(root, sample.image, allow_escape)
        depth = resolve_under(root, sample.depth, allow_escape) if sample.depth else None
    except PathEscapeError as exc:
        return Rejection(sample.id, "path_escape", str(exc))
    try:
        pictures = load_pictures(image, depth, with_depth, max_pixels)
    except ImageProblem as exc:
        return Rejection(sample.id, _classify(exc), str(exc))
    if depth is not None and depth.suffix == ".npy" and depth.exists():
        from sif.depth.map import DepthSizeError, check_depth_size, read_depth_shape

        try:  # a depth map of another image would teach (and reward) the wrong depths
            check_depth_size(read_depth_shape(depth)[:2], pictures[0].size, depth)
        except (DepthSizeError, ValueError) as exc:
            return Rejection(sample.id, "depth_mismatch", str(exc))
    return CheckedSample(sample, image, depth, tuple(p.size for p in pictures))


def load_checked_samples(path: str | os.PathLike, *, image_root: str | os.PathLike | None = None,
                         allow_escape: bool = False, with_depth: bool = True, require_chain: bool = True,
                         paper_compat: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                         num_threads: int | None = None) -> SampleReport:
    """Read and check every sample of `path` (paths relative to `image_root`, default the file's folder).
    Images are decoded fully here, on a thread pool, so a truncated file is caught before training."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"samples file not found: {path}")
    root = Path(image_root).expanduser().resolve() if image_root else path.parent
    report = SampleReport(str(path))
    samples = _read_records(path, report)
    todo: list[Sample] = []
    for sample in samples:
        problem = _chain_problem(sample, paper_compat) if require_chain else None
        if problem is not None:
            report.rejected.append(problem)
        else:
            todo.append(sample)
    threads = num_threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(lambda s: _check_files(s, root, allow_escape, with_depth, max_pixels), todo))
    for result in results:
        (report.rejected if isinstance(result, Rejection) else report.kept).append(result)  # type: ignore[arg-type]
    return report


def drop_too_long(report: SampleReport, counter: Any, make_example: Callable[[CheckedSample], tuple],
                  max_length: Optional[int], batch: int = 256) -> None:
    """Count every kept sample's tokens (`counter`: sif.training.lengths.TokenCounter; `make_example` gives
    (prompt messages, completion messages or None)) and move those over `max_length` to the rejections."""
    kept: list[CheckedSample] = []
    for start in range(0, len(report.kept), batch):
        chunk = report.kept[start:start + batch]
        examples: list[tuple[list[dict], Any, Sequence[Size]]] = []
        for item in chunk:
            prompt, completion = make_example(item)
            examples.append((prompt, completion, item.sizes))
        for item, n in zip(chunk, counter.count_many(examples)):
            item.num_tokens = n
            if max_length is not None and n > max_length:
                report.rejected.append(Rejection(item.sample.id, "too_long",
                                                 f"{n} tokens (text + image tokens) > max_length {max_length}"))
            else:
                kept.append(item)
    report.kept = kept
