"""Shared test fixtures: composing configs exactly as launch.py does, and running launch.py itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests run as two xdist workers on two cores: one torch thread each avoids oversubscription, which made
# a 64-token CPU generate 20x slower (inherited by every launch.py subprocess too).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One cache folder for the whole session (tiny models, synthetic data) to keep the suite fast."""
    path = Path(os.environ.get("SIF_TEST_CACHE", ROOT / ".cache" / "sif-test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def compose(overrides: list[str] | None = None):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from sif.config import register_configs

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return hydra_compose("config", overrides=list(overrides or []))


def run_launch(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 600,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run `python launch.py ARGS` in a subprocess, the way a user does."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"launch.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Start the longest end-to-end tests (marked `first`) before the rest, then fix `xdist_group`.

    Under xdist the work goes out in collection order; a five-minute test that is collected late runs alone
    at the end while the other worker idles, so it is moved to the front and the suite runs beside it.
    """
    items[:] = sorted(items, key=lambda item: item.get_closest_marker("first") is None)  # stable: order kept
    _fix_xdist_groups(config, items)


def _fix_xdist_groups(config, items) -> None:
    """Make `pytest.mark.xdist_group` work again under `--dist loadgroup` (`make test`) with pytest >= 9.

    pytest-xdist 3.8 groups tests by renaming each marked item's `_nodeid` to `<id>@<group>`, but pytest 9
    keeps the id in `_id` (a NodeId) and ignores `_nodeid`, so marked tests were spread over both workers
    (e.g. two multi-process CPU tests at once on two cores). This sets the suffixed id where xdist meant to.
    """
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest < 9: xdist's own hook already renamed the items
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)
