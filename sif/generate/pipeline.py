"""Turning source items into training samples: depth, reverse expansion, teacher text, checks, JSONL.

Resumable: samples and rejections are appended (fsynced) in a fixed order with per-id random streams,
so a run killed at any point and re-run yields the same final files as an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image

from sif.chain import Focus, parse_chain
from sif.data.records import Rejection, RejectionLedger
from sif.data.schema import SampleError
from sif.data.sources.base import SourceItem
from sif.data.sources.synth import stable_seed
from sif.generate.expansion import reverse_expansion
from sif.generate.plan import ChainRequest, PlannedStep
from sif.geometry import round_box
from sif.io import JsonlAppender, atomic_path

log = logging.getLogger("sif.generate")


@dataclass
class GenerateReport:
    written: int = 0
    resumed: int = 0  # finished in an earlier run, skipped now
    rejected: Counter = field(default_factory=Counter)
    skipped: RejectionLedger = field(default_factory=RejectionLedger)
    chain_lengths: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"written": self.written, "resumed": self.resumed, "rejected": dict(self.rejected),
                "rejected_total": sum(self.rejected.values()), "skipped": dict(self.skipped.counts),
                "skipped_total": self.skipped.total, "skipped_examples": self.skipped.examples[:20],
                "chain_length_histogram": {str(k): v for k, v in sorted(self.chain_lengths.items())}}


def _save_image(rgb: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG", compress_level=1)


def plan_chain(item: SourceItem, depth_map, seed: int, expansion_steps: int, distractor_prob: float) -> list[PlannedStep]:
    rng = np.random.default_rng([seed, stable_seed(item.id)])
    steps = reverse_expansion(item.gt_boxes, rng, expansion_steps=expansion_steps, distractor_prob=distractor_prob)
    return [PlannedStep([Focus(tuple(b), round(depth_map.box_mean(b), 3)) for b in s.boxes], s.role) for s in steps]


class SampleWriter:
    """Writes images, depth maps and sample lines of one split folder."""

    def __init__(self, out_dir: Path, write_depth_png: bool = True) -> None:
        self.out_dir = out_dir
        self.write_depth_png = write_depth_png
        self.samples = JsonlAppender(out_dir / "samples.jsonl")
        self.rejects = JsonlAppender(out_dir / "rejects.jsonl")

    @property
    def done_ids(self) -> set[str]:
        return self.samples.done_ids | self.rejects.done_ids

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.out_dir))
        except ValueError:
            return str(path)

    def materialize(self, item: SourceItem, depth: np.ndarray):
        """Write the item's image (if rendered) and depth files; return (image path, DepthMap)."""
        from sif.depth import DepthMap, save_depth

        if item.rgb is not None:
            image_path = self.out_dir / "images" / f"{item.id}.png"
            _save_image(item.rgb, image_path)
        else:
            image_path = Path(item.image)  # type: ignore[arg-type]
        npy = self.out_dir / "depth" / f"{item.id}.npy"
        save_depth(depth, npy, npy.with_suffix(".png") if self.write_depth_png else None)
        return image_path, DepthMap.load(npy)  # the stored float16 map is what rewards will read

    def close(self) -> None:
        self.samples.close()
        self.rejects.close()


def sample_record(item: SourceItem, image_path: Path, writer: SampleWriter, chain: str) -> dict:
    rec = {"id": item.id, "source": item.facts.get("source", None), "image": writer.rel(image_path),
           "depth": f"depth/{item.id}.npy", "question": item.question, "answer": item.answer,
           "answer_text": item.answer_text, "choices": item.choices, "gt_boxes": [list(round_box(b, 3)) for b in item.gt_boxes],
           "category": item.category, "chain": chain, "num_objects": item.num_objects}
    rec.update(item.extra)
    rec.pop("imported_chain", None)
    return rec


def run_generation(items: Iterable[SourceItem], writer: SampleWriter, teacher, depth_provider, *, seed: int,
                   source_name: str, expansion_steps: int, distractor_prob: float, strict: bool,
                   batch_size: int, report: GenerateReport, progress=None) -> GenerateReport:
    """Process `items` (already filtered of finished ids) in batches; every finished sample is on disk
    before the next batch starts."""
    batch: list[SourceItem] = []

    def flush() -> None:
        if not batch:
            return
        need_depth = [it for it in batch if it.depth is None]
        if need_depth:
            from sif.data.images import open_rgb

            maps = depth_provider.predict([open_rgb(it.image) for it in need_depth])
            for it, m in zip(need_depth, maps):
                it.depth = m
        requests, prepared = [], []
        for it in batch:
            image_path, dmap = writer.materialize(it, it.depth)
            for target in it.facts.get("targets", []):  # cite the same box means the areas carry
                target["depth"] = round(dmap.box_mean(target["box"]), 3)
            it.facts.setdefault("source", source_name)
            imported = it.extra.get("imported_chain")
            if imported is not None:
                prepared.append((it, image_path, imported))
                continue
            steps = plan_chain(it, dmap, seed, expansion_steps, distractor_prob)
            requests.append(ChainRequest(id=it.id, question=it.question, answer=it.answer,
                                         answer_text=it.answer_text, steps=steps, image=str(image_path),
                                         choices=it.choices, facts=it.facts))
            prepared.append((it, image_path, None))
        texts = iter(teacher.write(requests)) if requests else iter(())
        for it, image_path, imported in prepared:
            result = imported if imported is not None else next(texts)
            if isinstance(result, Rejection):
                if strict:
                    raise SampleError(f"teacher reply rejected ({result.reason})", sample_id=it.id, field_name="chain")
                report.rejected[result.reason] += 1
                writer.rejects.append({"id": it.id, "reason": result.reason})
            else:
                record = sample_record(it, image_path, writer, result)
                record["source"] = source_name
                writer.samples.append(record)
                report.written += 1
                report.chain_lengths[len(parse_chain(result).areas)] += 1
            if progress is not None:
                progress.update(1)
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            flush()
    flush()
    return report


def skip_done(items: Iterable[SourceItem], done: set[str], report: GenerateReport) -> Iterator[SourceItem]:
    for item in items:
        if item.id in done:
            report.resumed += 1
            continue
        yield item
