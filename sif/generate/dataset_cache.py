"""`dataset=synth` without a path: samples generated into the cache on first use, keyed by every setting that
changes what is written (the dataset group, seed, generation settings, teacher and depth groups)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from dataclasses import asdict

from omegaconf import DictConfig, OmegaConf

from sif.generate.split import generate_settings, generate_split

log = logging.getLogger("sif.data")


def synth_cache_key(cfg: DictConfig) -> str:
    settings = asdict(generate_settings(cfg))
    settings.pop("name", None)
    settings.pop("force", None)
    keyed = {"dataset": OmegaConf.to_container(cfg.dataset, resolve=True), "seed": int(cfg.seed),
             "generate": settings, "teacher": OmegaConf.to_container(cfg.teacher, resolve=True),
             "depth": OmegaConf.to_container(cfg.depth, resolve=True), "builder": 2}
    keyed["dataset"].pop("path", None)
    keyed["dataset"].pop("split", None)
    if keyed["dataset"].get("object_scale") == 1.0:  # added later: the default keeps earlier caches' keys
        keyed["dataset"].pop("object_scale")
    return hashlib.sha1(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:12]


def synth_cache_root(cfg: DictConfig) -> Path:
    """The cache folder of `dataset=synth` under this config (train/ and eval/ inside)."""
    return Path(str(cfg.paths.cache_dir)).expanduser().resolve() / "data" / f"synth-{synth_cache_key(cfg)}"


def samples_path(cfg: DictConfig, split: str = "train") -> Path:
    """The samples.jsonl for `split`: `dataset.path` when set (train) or its sibling eval file, else the
    synthetic cache (generated now if missing)."""
    if cfg.dataset.path:
        path = Path(str(cfg.dataset.path)).expanduser().resolve()
        if split == "eval":
            sibling = path.parent.parent / "eval" / "samples.jsonl"
            if path.parent.name == "train" and sibling.exists():
                return sibling
            # never score the training file as if it were held out (it silently did before)
            raise ValueError(f"dataset.path={str(cfg.dataset.path)!r} has no held-out split beside it (looked for "
                             f"{sibling}); evaluate a file explicitly with benchmark.path=<samples.jsonl>")
        return path
    if cfg.dataset.source != "synth":
        raise ValueError(f"dataset={cfg.dataset.name} needs dataset.path=... (a samples.jsonl from stage=generate)")
    root = synth_cache_root(cfg)
    target = root / split / "samples.jsonl"
    if (root / split / "DONE").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{split}-", dir=root))
    try:
        log.info("generating the synthetic %s split into the cache: %s", split, root / split)
        local = cfg.copy()
        OmegaConf.set_struct(local, False)
        local.dataset.split = split
        generate_split(local, generate_settings(cfg), tmp, progress=False)
        (tmp / "DONE").write_text("ok\n")
        try:
            os.rename(tmp, root / split)
        except OSError:  # another process finished first; theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
