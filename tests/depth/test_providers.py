"""Depth providers: registry names, the ground-truth provider, config validation without loading a model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sif.config.data import DepthConfig
from sif.data.scenes import SceneParams, render_scene
from sif.depth import HUB_IDS, DepthAnythingV2Provider, GroundTruthDepthProvider, build_depth_provider
from sif.registry import DEPTH_PROVIDERS, UnknownNameError


def test_both_providers_are_registered_under_their_config_names():
    assert {"ground_truth", "depth_anything_v2"} <= set(DEPTH_PROVIDERS.names())
    assert DEPTH_PROVIDERS.get("ground_truth") is GroundTruthDepthProvider
    assert DEPTH_PROVIDERS.get("depth_anything_v2") is DepthAnythingV2Provider
    with pytest.raises(UnknownNameError, match="ground_truth"):
        build_depth_provider(DepthConfig(name="midas"))


def test_ground_truth_returns_the_renderers_exact_map():
    scenes = [render_scene(i, 0, SceneParams(width=96, height=64)) for i in range(2)]
    maps = build_depth_provider(DepthConfig()).predict([s.image() for s in scenes])
    for s, m in zip(scenes, maps):
        assert m.dtype == np.float32 and np.array_equal(m, s.depth)
        assert m is not s.depth  # a copy: callers may not corrupt the scene


def test_ground_truth_refuses_images_without_depth():
    with pytest.raises(ValueError, match="image 0: no ground-truth depth.*depth_anything_v2"):
        GroundTruthDepthProvider(DepthConfig()).predict([Image.new("RGB", (8, 8))])
    img = Image.new("RGB", (8, 8))
    img.info["sif_depth"] = np.zeros((4, 4))
    with pytest.raises(ValueError, match="shape"):
        GroundTruthDepthProvider(DepthConfig()).predict([img])


@pytest.mark.parametrize("size", ["small", "base", "large"])
def test_size_picks_the_v2_hub_id_and_model_overrides_it(size):
    assert DepthAnythingV2Provider(DepthConfig(name="depth_anything_v2", size=size)).model_id == \
        f"depth-anything/Depth-Anything-V2-{size.capitalize()}-hf" == HUB_IDS[size]
    assert DepthAnythingV2Provider(DepthConfig(name="depth_anything_v2", size=size, model="/m")).model_id == "/m"


@pytest.mark.parametrize("field, value, message", [("size", "huge", "size"), ("dtype", "float64", "dtype"),
                                                   ("batch_size", 0, "batch_size")])
def test_bad_depth_config_is_refused_before_loading_anything(field, value, message):
    cfg = DepthConfig(name="depth_anything_v2")
    setattr(cfg, field, value)
    with pytest.raises(ValueError, match=message):
        DepthAnythingV2Provider(cfg)


def test_importing_and_building_providers_loads_no_torch():
    code = ("import sys; from sif.depth import build_depth_provider; from sif.config.data import DepthConfig; "
            "build_depth_provider(DepthConfig(name='depth_anything_v2')); "
            "print('torch' in sys.modules, 'transformers' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
