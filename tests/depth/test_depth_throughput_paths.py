"""The fast depth paths (benchmarks/depth_throughput.py) on CPU with the tiny checkpoint: preprocess=gpu (decode in
workers, resize/normalise next to the model) agrees with the transformers pipeline, and predict_to_files streams
paths through DataLoader workers and writes .npy + .png asynchronously."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sif.config.data import DepthConfig
from sif.depth import build_depth_provider, build_tiny_depth_anything, load_depth_map


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_depth_anything(tmp_path_factory.mktemp("depth") / "tiny-da")


def _images(n: int, sizes=((96, 64), (70, 70))) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        small = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        out.append(Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR))
    return out


def _provider(path: Path, **kw):
    return build_depth_provider(DepthConfig(name="depth_anything_v2", model=str(path), **kw))


def test_auto_is_the_pipeline_on_cpu_and_gpu_when_asked(tiny):
    assert _provider(tiny).mode == "pipeline"
    assert _provider(tiny, preprocess="gpu").mode == "gpu"
    with pytest.raises(ValueError, match="preprocess"):
        _provider(tiny, preprocess="tpu")


def test_gpu_preprocessing_agrees_with_the_pipeline(tiny):
    images = _images(5)
    ref = _provider(tiny, batch_size=2, preprocess="pipeline").predict(images)
    got = _provider(tiny, batch_size=2, preprocess="gpu").predict(images)
    for img, a, b in zip(images, ref, got):
        assert b.shape == (img.height, img.width) and b.dtype == np.float32
        assert b.min() == 0.0 and abs(b.max() - 1.0) < 1e-3
        # torch's bicubic (a=-0.75) vs PIL's (a=-0.5) and a float16 result: close, not bit-equal
        assert np.abs(a - b).mean() < 0.03 and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.98


@pytest.mark.parametrize("preprocess", ["gpu", "pipeline"])
def test_predict_to_files_streams_paths_through_workers(tiny, tmp_path, preprocess):
    images = _images(6)
    paths = []
    for i, img in enumerate(images):
        paths.append(tmp_path / f"img{i}.png")
        img.save(paths[-1])
    provider = _provider(tiny, batch_size=2, num_workers=2, preprocess=preprocess)
    outs = [tmp_path / "depth" / f"img{i}.npy" for i in range(len(paths))]
    seen = []
    assert provider.predict_to_files([str(p) for p in paths], outs, progress=seen.append) == len(paths)
    expected = provider.predict(images)
    for out, exp, img in zip(outs, expected, images):
        assert out.is_file() and out.with_suffix(".png").is_file()
        m = load_depth_map(out).array
        assert m.shape == (img.height, img.width)
        np.testing.assert_allclose(m, exp, atol=2e-3)  # stored as float16
    assert sum(seen) == len(paths)
