"""The eval loop behind stage=eval: benchmark items -> backend completions -> strict scores -> results.

Resumable: every finished item is appended (fsynced) to `predictions.jsonl` as
`{"id", "completion", "score": ItemScore}`, so a re-run of the same command (or `stage.force=true` after a
finished run) neither re-generates nor re-scores them; a record with an `"error"` (a server request that
failed after its retries) is retried by the next run. The last record of an id wins.

Outputs in the run folder: predictions.jsonl, results.json (aggregate, per-item scores, benchmark /
backend / model / checkpoint info, generation counts), results.md (the table) and report.html (+
report_assets/) when `stage.html`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from sif.eval.backends.base import Backend, build_backend
from sif.eval.backends.inputs import DepthSource, request_for
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore
from sif.io import JsonlAppender, read_jsonl, write_json, write_text
from sif.registry import BENCHMARKS
from sif.zoom.records import save_crops

log = logging.getLogger("sif.eval")
PREDICTIONS = "predictions.jsonl"
ZOOMS = "zooms"  # backend.zoom=true: the crops each item's model saw (PNG), listed in its record


def benchmark_for(cfg: DictConfig, cache_dir: Path) -> Benchmark:
    """The benchmark group's benchmark; synth without a path reads the held-out synthetic split."""
    bcfg = OmegaConf.to_object(cfg.benchmark)
    if str(bcfg.name) == "synth" and not bcfg.path:
        from sif.generate.dataset_cache import samples_path

        bcfg.path = str(samples_path(cfg, "eval"))
    return BENCHMARKS.get(str(bcfg.name))(bcfg, cache_dir / "benchmark-images" / str(bcfg.name))


class Predictions:
    """predictions.jsonl, read back on open (last record per id) and appended to crash-safely."""

    def __init__(self, path: Path) -> None:
        self._out = JsonlAppender(path)  # cuts a partial last line first
        self.records: dict[str, dict] = {}
        for rec in read_jsonl(path):
            if isinstance(rec, dict) and "id" in rec:
                self.records[str(rec["id"])] = rec

    def done(self, item_id: str) -> bool:
        rec = self.records.get(item_id)
        return rec is not None and not rec.get("error") and isinstance(rec.get("score"), dict)

    def add(self, rec: dict) -> None:
        self._out.append(rec)
        self.records[str(rec["id"])] = rec

    def close(self) -> None:
        self._out.close()


def _score_of(rec: dict) -> ItemScore:
    names = {f.name for f in dataclasses.fields(ItemScore)}
    return ItemScore(**{k: v for k, v in rec["score"].items() if k in names})


def backend_info(cfg: DictConfig, backend: Optional[Backend]) -> dict[str, Any]:
    b = cfg.backend
    info: dict[str, Any] = {"name": str(b.name), "max_new_tokens": int(b.max_new_tokens),
                            "do_sample": bool(b.do_sample), "temperature": float(b.temperature),
                            "top_p": float(b.top_p), "seed": int(b.seed), "batch_size": int(b.batch_size)}
    if str(b.name) == "openai":
        info.update(base_url=b.base_url, model=str(b.model))
    if backend is not None:
        info.update(backend.info())
    return info


def _entries(items: list[EvalItem], records: dict[str, dict], run_dir: Path) -> list[Any]:
    from sif.eval.report import ReportEntry

    out = []
    for it in items:
        rec = records[it.id]
        s = rec["score"]
        out.append(ReportEntry(
            id=it.id, image=it.image, question=it.question, gt_answer=it.answer, completion=rec.get("completion", ""),
            correct=bool(s.get("correct")), category=str(s.get("category", it.category)), choices=it.choices,
            pred_answer=s.get("pred_answer"), gt_boxes=[list(b) for b in it.gt_boxes], iou=s.get("iou"),
            depth_consistency=s.get("depth_consistency"), format_ok=bool(s.get("format_ok")), error=rec.get("error"),
            zooms=[{**z, "image": str(run_dir / z["image"])} for z in rec.get("zooms") or []]))
    return out


@dataclasses.dataclass(frozen=True)
class _Request:
    """What every request of this eval shows and says: the pictures (sif.views) and the prompt style."""

    with_depth: bool
    blank: bool
    style: str


def _generate_chunk(backend: Any, chunk: list, view: Any) -> tuple[list[str], dict[str, str]]:
    """Completions of a chunk and the errors by item id. A picture that cannot be read (missing, truncated,
    not an image) fails only its own item - recorded like a failed request, retried by the next run - instead
    of stopping the eval: the chunk is re-asked item by item to find it. Benchmark files are checked for
    existence at load, not decoded, so this is where a broken image shows."""
    from sif.data.images import ImageProblem

    try:
        texts = backend.generate([request_for(it, view.with_depth, view.blank, view.style) for it in chunk])
        return texts, dict(backend.errors)
    except ImageProblem:
        pass
    texts, failed = [], {}
    for it in chunk:
        try:
            texts += backend.generate([request_for(it, view.with_depth, view.blank, view.style)])
            failed.update(backend.errors)
        except ImageProblem as exc:
            texts.append("")
            failed[it.id] = f"image_unreadable: {exc}"
            log.warning("eval: item %s skipped (recorded as an error): %s", it.id, exc)
    return texts, failed


def evaluate(cfg: DictConfig, run_dir: Path, backend: Optional[Backend] = None, progress: bool = True) -> dict:
    """Evaluate (or resume) cfg's model on cfg's benchmark into `run_dir`; returns the run summary.
    `backend`: an already built backend (tests), else the backend group's, built only if work is left."""
    from tqdm import tqdm

    from sif.eval.report import results_table, write_html_report

    run_dir = Path(run_dir)
    cache = Path(str(cfg.paths.cache_dir)).expanduser().resolve()
    st = cfg.stage
    checkpoint = st.get("checkpoint") or None
    bench = benchmark_for(cfg, cache)
    items = bench.load()
    if st.get("limit") is not None:
        items = items[:max(0, int(st.limit))]
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"benchmark {bench.name}: item id {dup!r} occurs more than once")
    DepthSource(cfg.depth, cache).fill(items)

    store = Predictions(run_dir / PREDICTIONS)
    todo = [it for it in items if not store.done(it.id)]
    resumed, generated, errors = len(items) - len(todo), 0, 0
    owned = backend is None
    from sif.views import view_of

    view = view_of(cfg.backend.image_inputs, "backend.image_inputs")
    view = _Request(view.with_depth, view.blank, str(cfg.backend.get("prompt", "sif")))
    started = time.time()
    try:
        if todo:
            if backend is None:
                backend = build_backend(cfg.backend, cfg.model, cache, checkpoint, zoom_cfg=cfg.get("zoom"))
            log.info("eval %s: %d items to generate (%d already done) with backend=%s", bench.name, len(todo),
                     resumed, backend.name)
            bar = tqdm(total=len(todo), desc=f"eval {bench.name}", unit="item", disable=not progress)
            for start in range(0, len(todo), backend.chunk_size):
                chunk = todo[start:start + backend.chunk_size]
                texts, failed = _generate_chunk(backend, chunk, view)
                for it, text in zip(chunk, texts):
                    rec: dict[str, Any] = {"id": it.id, "completion": text,
                                           "score": dataclasses.asdict(bench.score(it, text))}
                    if failed.get(it.id):
                        rec["error"] = failed[it.id]
                        errors += 1
                    crops = getattr(backend, "zooms", {}).pop(it.id, None)
                    if crops is not None:  # backend.zoom=true: the crops this item's model saw, in order
                        rec["zooms"] = save_crops(crops, run_dir / ZOOMS, f"{len(store.records):05d}-{it.id}",
                                                  run_dir)
                    store.add(rec)
                generated += len(chunk)
                bar.update(len(chunk))
            bar.close()
    finally:
        store.close()
        if owned and backend is not None:
            backend.close()
    seconds = time.time() - started

    records = store.records
    scores = [_score_of(records[i]) for i in ids]
    agg = bench.aggregate(scores)
    if bench.name == "synth" and bool(st.get("controls", True)):
        from sif.eval.controls import synth_controls

        controls = synth_controls(cfg, items, bench.iou_threshold)
        if controls is not None:
            agg["controls"] = controls
    model = {"name": str(cfg.model.name), "path": cfg.model.path, "checkpoint": checkpoint,
             "resolved_path": getattr(backend, "path", None)}
    info_b = backend_info(cfg, backend)
    results = {
        "benchmark": {"name": bench.name, "path": str(bench.cfg.path) if bench.cfg.path else None,
                      "compat": bench.compat, "n_items": len(items)},
        "backend": info_b, "model": model, "checkpoint": checkpoint, "aggregate": agg,
        "generation": {"generated": generated, "resumed": resumed, "errors": errors,
                       "errors_total": sum(1 for i in ids if records[i].get("error")), "seconds": round(seconds, 3),
                       "items_per_s": round(generated / seconds, 3) if generated and seconds > 0 else None},
        "items": [{**records[i]["score"], "gt_answer": it.answer, **({"error": records[i]["error"]}
                                                                    if records[i].get("error") else {})}
                  for i, it in zip(ids, items)],
    }
    write_json(run_dir / "results.json", results)
    title = f"{bench.name} · backend={info_b['name']} · model={checkpoint or cfg.model.path or cfg.model.name}"
    table = results_table(agg, title=title)
    write_text(run_dir / "results.md", table)
    report = None
    if bool(st.get("html", True)):
        meta = {"benchmark": bench.name, "backend": info_b["name"], "model": model["path"] or model["name"],
                "checkpoint": checkpoint, "server model": info_b.get("model"), "items": len(items)}
        report = write_html_report(run_dir / "report.html", _entries(items, records, run_dir), agg, meta,
                                   max_samples=int(st.get("max_samples_in_html", 200)), title=f"SIF eval: {title}")
    summary = {"benchmark": bench.name, "n": len(items), "aggregate": agg, "objective": agg.get("overall"),
               "generated": generated, "resumed": resumed, "generation_errors": results["generation"]["errors_total"],
               "results": str(run_dir / "results.json"), "results_md": str(run_dir / "results.md"),
               "report": str(report) if report else None, "table": table}
    if info_b.get("stats") is not None:  # an API backend's call counts (retries, errors by reason, failures)
        summary["client"] = info_b["stats"]
        log.info("eval %s: client %s", bench.name, {k: v for k, v in info_b["stats"].items() if v})
    if summary["generation_errors"] and bool(cfg.get("strict", False)):
        raise RuntimeError(f"{summary['generation_errors']} item(s) failed to generate (see predictions.jsonl); "
                           "re-run the same command to retry them (strict=true)")
    return summary
