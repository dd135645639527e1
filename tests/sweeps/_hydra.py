"""Composing configs the way `launch.py -m` does (with the hydra node and a config loader), for tests that
drive Hydra's launchers and sweepers directly."""

from __future__ import annotations

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.types import RunMode
from omegaconf import DictConfig

from tests.conftest import ROOT


def config_loader() -> ConfigLoaderImpl:
    from sif.config import register_configs

    register_configs()
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(ROOT / "conf")))


def load_multirun_config(overrides: list[str], loader: ConfigLoaderImpl | None = None) -> DictConfig:
    """The master config of `python launch.py -m OVERRIDES` (hydra node included)."""
    loader = loader or config_loader()
    return loader.load_configuration(config_name="config", overrides=list(overrides), run_mode=RunMode.MULTIRUN)
