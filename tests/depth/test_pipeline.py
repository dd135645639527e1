"""The depth_anything_v2 provider through the real transformers pipeline, on a tiny random-init checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sif.config.data import DepthConfig
from sif.data.scenes import SceneParams, render_scene
from sif.depth import DepthAnythingV2Provider, build_depth_provider, build_tiny_depth_anything


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_depth_anything(tmp_path_factory.mktemp("depth") / "tiny-da")


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    scenes = [render_scene(i, 0, SceneParams(width=96, height=64)) for i in range(2)]
    noise = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    return [s.image() for s in scenes] + [Image.fromarray(noise)]


def _provider(path: Path, **kw) -> DepthAnythingV2Provider:
    return build_depth_provider(DepthConfig(name="depth_anything_v2", model=str(path), **kw))


def test_tiny_checkpoint_has_the_hub_layout_and_is_reused(tiny):
    names = {p.name for p in tiny.iterdir()}
    assert names == {"config.json", "model.safetensors", "preprocessor_config.json"}
    stamp = (tiny / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_depth_anything(tiny) == tiny
    assert (tiny / "model.safetensors").stat().st_mtime_ns == stamp  # complete folder: not rebuilt


def test_pipeline_maps_are_image_sized_normalised_and_deterministic(tiny, images):
    provider = _provider(tiny, batch_size=2)
    maps = provider.predict(images)
    assert len(maps) == len(images)
    for img, m in zip(images, maps):
        assert m.shape == (img.height, img.width) and m.dtype == np.float32
        assert m.min() == 0.0 and m.max() == 1.0  # 1 - minmax of the disparity
    again = provider.predict(images)
    fresh = _provider(tiny, batch_size=1).predict(images)  # a new pipeline, unbatched
    for a, b, c in zip(maps, again, fresh):
        assert np.array_equal(a, b)
        np.testing.assert_allclose(a, c, atol=1e-5)


def test_maps_invert_the_raw_disparity(tiny, images):
    """0 = nearest: the largest raw prediction (DA-V2's 'closer') becomes 0, the smallest 1."""
    provider = _provider(tiny)
    raw = provider.pipeline(images[:1])[0]["predicted_depth"].float().numpy()
    m = provider.predict(images[:1])[0]
    np.testing.assert_allclose(m, (raw.max() - raw) / (raw.max() - raw.min()), atol=1e-6)
