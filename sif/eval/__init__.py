"""Evaluation: benchmark loaders and strict scorers (`sif.eval.benchmarks`, registry `BENCHMARKS`),
inference backends (`BACKENDS`) and reports."""
