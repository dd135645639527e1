"""One split of SIF training data, generated or resumed into a folder: the library behind `stage=generate`
and the synthetic cache that sft, grpo and eval build on first use (sif.generate.dataset_cache).

Both callers pass a typed `GenerateStageConfig`, so a chain written by `stage=generate` and one written into
the cache by `stage=sft` come from the same settings (they used to differ: the cache fell back to literals).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from sif.chain import parse_chain
from sif.config.stages import GenerateStageConfig
from sif.data.sources.base import guarded
from sif.generate.histogram import write_chain_length_histogram
from sif.generate.pipeline import GenerateReport, SampleWriter, run_generation, skip_done
from sif.io import read_jsonl
from sif.registry import DEPTH_PROVIDERS, SOURCES, TEACHERS

log = logging.getLogger("sif.generate")

RETRIED_REJECTIONS = frozenset({"api_error"})  # the API failed, not the reply: the next run asks again


def generate_settings(cfg: DictConfig) -> GenerateStageConfig:
    """The generation settings a run uses: the generate stage's own config under `stage=generate`, else the
    generate schema's defaults (what `stage=generate` writes when nothing is overridden)."""
    if str(cfg.stage.name) == "generate":
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(GenerateStageConfig), cfg.stage))
    return GenerateStageConfig()


def _items(cfg: DictConfig, done: set[str], limit: int | None, report: GenerateReport, num_workers: int):
    source = SOURCES.get(str(cfg.dataset.source))
    if cfg.dataset.source == "synth":
        split = str(cfg.dataset.split)
        count = int(cfg.dataset.eval_samples if split == "eval" else cfg.dataset.num_samples)
        count = min(count, limit) if limit is not None else count
        todo = [i for i in range(count) if f"synth-{split}-{i:06d}" not in done]
        report.resumed += count - len(todo)
        return source(cfg, bool(cfg.strict), indices=todo, num_workers=num_workers), len(todo)
    if not cfg.dataset.path:
        raise ValueError(f"dataset={cfg.dataset.name} needs dataset.path=<file>")
    stream = guarded(source(cfg, bool(cfg.strict)), bool(cfg.strict), report.skipped)
    cap = limit if limit is not None else (int(cfg.dataset.num_samples) if int(cfg.dataset.num_samples) > 0 else None)

    def capped():
        for n, item in enumerate(stream):
            if cap is not None and n >= cap:
                return
            yield item

    return skip_done(capped(), done, report), cap


def _last_rejections(out_dir: Path) -> dict[str, str]:
    """id -> reason of each id's last line in rejects.jsonl."""
    path = out_dir / "rejects.jsonl"
    return {str(r["id"]): str(r.get("reason")) for r in read_jsonl(path) if "id" in r} if path.exists() else {}


def _finished_ids(writer: SampleWriter, out_dir: Path) -> set[str]:
    """Ids a resumed run skips: written samples and rejections that are final (not an API failure)."""
    final = {i for i, reason in _last_rejections(out_dir).items() if reason not in RETRIED_REJECTIONS}
    return set(writer.samples.done_ids) | final


def _count_whole_folder(report: GenerateReport, out_dir: Path) -> None:
    """Chain lengths and rejections of every record in the folder (earlier, killed sessions included; an id
    rejected for an API failure and written by a later run counts as written)."""
    lengths: Counter = Counter()
    written: set[str] = set()
    for rec in read_jsonl(out_dir / "samples.jsonl"):
        lengths[len(parse_chain(rec.get("chain") or "").areas)] += 1
        written.add(str(rec.get("id")))
    rejected: Counter = Counter(r for i, r in _last_rejections(out_dir).items() if i not in written)
    report.chain_lengths, report.rejected = lengths, rejected


def _check_depth(cfg: DictConfig) -> None:
    if cfg.dataset.source != "synth" and cfg.depth.name == "ground_truth":
        raise ValueError(f"dataset={cfg.dataset.name} has no ground-truth depth: use depth=depth_anything_v2 "
                         "(depth.model=<hub id or local folder>)")
    if cfg.dataset.source == "synth" and cfg.depth.name != "ground_truth":
        log.info("synthetic scenes carry exact depth; depth=%s is used only for images without it", cfg.depth.name)


def generate_split(cfg: DictConfig, settings: GenerateStageConfig, out_dir: Path, progress: bool = True,
                   cache_dir: Path | None = None) -> dict:
    """Generate (or resume) the split `cfg.dataset.split` into `out_dir` with `settings`; returns the summary."""
    _check_depth(cfg)
    batch = settings.batch_size or (int(cfg.depth.batch_size) if cfg.teacher.name == "template" else 32)
    cache = cache_dir or Path(str(cfg.paths.cache_dir)).expanduser().resolve()
    teacher = TEACHERS.get(str(cfg.teacher.name))(cfg.teacher, cache / "llm")
    depth_provider = DEPTH_PROVIDERS.get(str(cfg.depth.name))(cfg.depth)
    writer = SampleWriter(out_dir, write_depth_png=settings.write_depth_png)
    report = GenerateReport()
    try:
        items, total = _items(cfg, _finished_ids(writer, out_dir), settings.limit, report, settings.num_workers)
        bar = tqdm(total=total, desc=f"generate {cfg.dataset.name}/{cfg.dataset.split}", disable=not progress,
                   unit="sample")
        run_generation(items, writer, teacher, depth_provider, seed=int(cfg.seed), source_name=str(cfg.dataset.source),
                       expansion_steps=settings.expansion_steps, distractor_prob=settings.distractor_prob,
                       strict=bool(cfg.strict), batch_size=batch, report=report, progress=bar)
        bar.close()
    finally:
        writer.close()
    _count_whole_folder(report, out_dir)  # a resumed run reports the whole folder, not only this session
    summary = report.to_dict()
    summary["samples"] = len(writer.samples.done_ids)
    summary["samples_path"] = str(out_dir / "samples.jsonl")
    if hasattr(teacher, "stats"):
        summary["teacher"] = teacher.stats
    hist = {int(k): v for k, v in summary["chain_length_histogram"].items()}
    if hist and settings.histogram:
        write_chain_length_histogram(hist, out_dir / "chain_length_hist.png")
    return summary
