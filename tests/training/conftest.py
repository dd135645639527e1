"""Fixtures for the sif.training tests: the tiny model's processor, built once into the shared test cache."""

from __future__ import annotations

import pytest

from tests.conftest import compose


@pytest.fixture(scope="session")
def tiny_model_cfg():
    return compose(["model=tiny"]).model


@pytest.fixture(scope="session")
def tiny_path(tiny_model_cfg, shared_cache):
    from sif.models.tiny import build_tiny_model

    return build_tiny_model(tiny_model_cfg.tiny, shared_cache)


@pytest.fixture(scope="session")
def tiny_processor(tiny_model_cfg, tiny_path):
    from sif.models.factory import load_processor

    return load_processor(str(tiny_path), tiny_model_cfg)
