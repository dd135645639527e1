"""A config group as its schema dataclass, once: what code below the stages reads instead of restating the
schema's defaults with `getattr(cfg, key, default)`."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

T = TypeVar("T")


def typed(schema: type[T], cfg: Any = None) -> T:
    """`cfg` as an instance of the dataclass `schema`: an instance is returned as is; a DictConfig or a plain
    dict gives its keys, the schema's defaults the rest (a value given replaces the default whole, dicts
    included); None gives the defaults. A key the schema does not have is refused, naming it."""
    if isinstance(cfg, schema):
        return cfg
    if cfg is None:
        return schema()
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    known = {f.name for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"{schema.__name__} has no field {', '.join(map(repr, unknown))}; known: {sorted(known)}")
    return schema(**values)
