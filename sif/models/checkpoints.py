"""Where weights come from: the one resolver that sft, grpo, probe, eval and export use.

A weight source is one of four things, told apart by what is on disk:

* nothing (None / "")        - the model group's model (`model.path`, or the tiny model built into the cache);
* a hub id ("owner/name")    - handed to `from_pretrained` as is (offline machines need it in the HF cache);
* a model folder             - a plain checkpoint (config.json) is loaded as is; a LoRA adapter folder
                               (adapter_config.json, no config.json) is merged into its base once, into
                               `<cache>/merged/<name>-<hash>`, and that plain checkpoint is loaded, so hf, vLLM and
                               the trainers all load the same weights;
* a run folder               - a finished run (summary.json with a "checkpoint" entry, as sft / grpo / probe /
                               export write): the checkpoint it hands on, resolved again by the same rules.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Optional

from sif.models.factory import check_model_processor, load_model, load_processor, looks_like_hub_id, resolve_model_path

log = logging.getLogger(__name__)


def is_adapter_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "adapter_config.json").is_file() and not (p / "config.json").is_file()


def resolve_init_from(path: str | None) -> Optional[str]:
    """The source itself, or - for a finished run folder (summary.json with a "checkpoint" entry) - the
    checkpoint that run hands on. No check that it exists: `resolve_weights` does that."""
    if not path:
        return None
    folder = Path(path).expanduser()
    summary = folder / "summary.json"
    if folder.is_dir() and summary.is_file() and not (folder / "config.json").is_file():
        checkpoint = json.loads(summary.read_text(encoding="utf-8")).get("checkpoint")
        if checkpoint:
            return str(checkpoint)
    return str(folder.resolve()) if folder.exists() else str(path)


def resolve_weights(source: Optional[str], model_cfg: Any, cache_dir: str | os.PathLike,
                    main_process_first: Optional[Callable[..., Any]] = None) -> str:
    """The folder or hub id to load for `source` (see the module docstring). `main_process_first` (e.g.
    TrainingArguments') makes rank 0 build the tiny model or merge an adapter while the others wait."""
    cache = Path(cache_dir).expanduser().resolve()
    first = main_process_first(desc="resolve weights") if main_process_first else nullcontext()
    with first:
        if not source:
            return resolve_model_path(model_cfg, cache)
        path = resolve_init_from(str(source))
        folder = Path(path).expanduser()
        if not folder.exists():
            if looks_like_hub_id(path):
                return path
            raise FileNotFoundError(f"weights {source!r}: {path} is neither an existing folder nor a hub id "
                                    "(owner/name)")
        folder = folder.resolve()
        return merged_adapter(folder, model_cfg, cache) if is_adapter_dir(folder) else str(folder)


def merged_adapter(adapter_dir: Path, model_cfg: Any, cache: Path) -> str:
    """The adapter merged into its base, once per adapter version, under `<cache>/merged/`."""
    stamp = max(p.stat().st_mtime_ns for p in adapter_dir.iterdir())
    key = hashlib.sha1(f"{adapter_dir}|{stamp}".encode()).hexdigest()[:12]
    out = cache / "merged" / f"{adapter_dir.name}-{key}"
    if not (out / "config.json").is_file():
        log.info("merging the LoRA adapter %s into %s", adapter_dir, out)
        merge_lora_checkpoint(adapter_dir, out, model_cfg, cache, overwrite=True)
    return str(out)


def _base_path(adapter_dir: Path, model_cfg: Any, cache_dir: Path) -> str:
    """The adapter's recorded base if it can still be loaded, else the model group's model."""
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{adapter_dir} has no adapter_config.json: not a peft LoRA adapter")
    recorded = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if recorded and Path(recorded).expanduser().is_dir():
        return str(Path(recorded).expanduser())
    if recorded and looks_like_hub_id(recorded):
        return recorded
    if recorded:
        log.warning("adapter base %s does not exist; merging into the model group's model instead", recorded)
    return resolve_model_path(model_cfg, cache_dir)


def _has_processor(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("processor_config.json", "preprocessor_config.json"))


def _write_checkpoint(model: Any, processor: Any, out_dir: Path, note_name: str, note: dict) -> Path:
    """Save model + processor + a provenance note into a temporary folder beside `out_dir`, then rename it
    into place: never half a checkpoint."""
    check_model_processor(model, processor)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / note_name).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def merge_lora_checkpoint(adapter_dir: str | os.PathLike, out_dir: str | os.PathLike, model_cfg: Any,
                          cache_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Merge a LoRA adapter into its base and save a plain checkpoint (safetensors + processor) that loads
    with `from_pretrained(out_dir)`. Written into a temporary folder and renamed: never half a checkpoint."""
    from peft import PeftModel

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"merge output {out_dir} exists and is not empty")
    base = _base_path(adapter_dir, model_cfg, Path(cache_dir))
    model = load_model(base, model_cfg, training=False)
    processor = load_processor(str(adapter_dir) if _has_processor(adapter_dir) else base, model_cfg)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    note = {"base": base, "adapter": str(adapter_dir)}
    return _write_checkpoint(merged, processor, out_dir, "MERGED_FROM.json", note)


def save_standalone(source: str, out_dir: str | os.PathLike, model_cfg: Any) -> Path:
    """A plain checkpoint of resolved weights `source` (a folder or hub id) written to `out_dir`, the way
    `merge_lora_checkpoint` writes one (export of a source that is not an adapter)."""
    model = load_model(source, model_cfg, training=False)
    processor = load_processor(source, model_cfg)
    return _write_checkpoint(model, processor, Path(out_dir), "EXPORTED_FROM.json", {"source": source})
