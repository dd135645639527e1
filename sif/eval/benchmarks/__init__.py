"""Benchmark loaders (public release formats) and strict scorers, registered in `sif.registry.BENCHMARKS`.

`BENCHMARKS.get(name)(cfg)` with a `BenchmarkConfig` gives a `Benchmark`: `load()` -> `EvalItem`s,
`score(item, completion)` -> `ItemScore`, `aggregate(scores)` -> metrics dict. See `base.py` for the
rules shared by every benchmark and each module for its own (and for what `compat=True` reproduces).
"""

from sif.autoload import import_submodules
from sif.eval.benchmarks.base import Benchmark, EvalItem, ItemScore, Judgement

__all__ = ["Benchmark", "EvalItem", "ItemScore", "Judgement"]

import_submodules(__name__, __path__)
