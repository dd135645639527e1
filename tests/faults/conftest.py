"""Fixtures of the fault suite: seeded kill points, and a session report of the suite's figures.

SIF_FAULT_SEED (default 20240817) seeds every random kill point; the seed is printed with each kill so a
failing point can be replayed exactly (SIF_FAULT_SEED=<seed> pytest tests/faults -k <test>).
"""

from __future__ import annotations

import os
import random
import zlib

import pytest

SEED = int(os.environ.get("SIF_FAULT_SEED", "20240817"))


@pytest.fixture()
def fault_rng(request) -> random.Random:
    """A random stream per test, from SIF_FAULT_SEED and the test's name (stable across runs and workers)."""
    return random.Random(SEED ^ zlib.crc32(request.node.nodeid.encode()))


def pytest_configure(config):  # noqa: ANN001 - pytest hook
    import time

    config._sif_reliability_started = time.time()


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ANN001 - pytest hook
    if hasattr(config, "workerinput"):  # an xdist worker: the controller reports
        return
    from tests.faults._reliability import REPORT, events, latest_run_id, merge

    run_id = None if events() else latest_run_id(getattr(config, "_sif_reliability_started", 0.0))
    if run_id is None and not events():
        return
    figures = merge(run_id)
    kills = ", ".join(f"{s} {k['resumes_matched']}/{k['kills']}" for s, k in figures["kills"].items())
    api = figures["api_faults"]
    terminalreporter.write_sep("-", "reliability figures")
    terminalreporter.write_line(f"kills (resumes matching the uninterrupted run / kills): {kills or 'none'}")
    terminalreporter.write_line(f"API faults survived / injected: {api['survived']}/{api['injected']}; "
                                f"bad inputs tried: {figures['bad_inputs']['tried']}; "
                                f"samples lost: {figures['samples_lost']}; "
                                f"truncated files in killed folders: {figures['killed_folder_scan']['truncated']}")
    terminalreporter.write_line(f"written to {REPORT}")
