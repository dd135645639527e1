"""Inference backends: one prompt for all, hf left-padded batching, the OpenAI path, vllm's absence, depth."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sif.config.data import DepthConfig
from sif.config.evaluation import BackendConfig
from sif.config.model import ModelConfig
from sif.eval.backends import GenRequest, build_backend, request_messages
from sif.eval.backends.inputs import DepthSource, MissingDepthError, request_for
from sif.views import depth_image
from sif.eval.backends.openai_api import openai_messages
from sif.eval.backends.vllm_engine import MissingDependencyError
from sif.eval.benchmarks.base import EvalItem
from sif.llm.images import image_to_data_url
from sif.prompt import build_messages
from tests.fakes.openai_server import FakeOpenAIServer

TINY = ModelConfig(name="tiny", path=None, dtype="float32", max_pixels=76800, min_pixels=3136)


def _requests() -> list[GenRequest]:
    """Three prompts of different lengths and image sizes (so a batch needs padding)."""
    out = []
    for i, (size, question, choices) in enumerate([
        ((320, 240), "Which object is closer to the camera?", ["the red cube", "the blue sphere"]),
        ((200, 150), "How many cylinders are there?", None),
        ((256, 256), "What color is the large metal sphere left of the small rubber cube behind it?", None),
    ]):
        rgb = Image.new("RGB", size, (200, 40 * i, 30))
        rgb.paste((30, 200, 60 * i), (10, 20, size[0] // 2, size[1] // 2))
        depth = Image.new("RGB", size, (20, 20, 220 - 60 * i))
        out.append(GenRequest(id=f"r{i}", question=question, choices=choices, images=[rgb, depth]))
    return out


@pytest.fixture(scope="module")
def hf_backend(shared_cache):
    backend = build_backend(BackendConfig(name="hf", batch_size=2, max_new_tokens=12), TINY, shared_cache)
    yield backend
    backend.close()


def test_hf_batched_left_padding_equals_one_by_one(hf_backend):
    reqs = _requests()
    assert hf_backend.tokenizer.padding_side == "left"
    hf_backend.cfg.batch_size = 2  # [r0, r1] padded together, then [r2]
    batched = hf_backend.generate(reqs)
    hf_backend.cfg.batch_size = 1
    single = hf_backend.generate(reqs)
    hf_backend.cfg.batch_size = 3
    one_batch = hf_backend.generate(reqs)
    assert batched == single == one_batch
    assert all(isinstance(t, str) and t for t in batched)
    assert not any("<|im_end|>" in t or "<|endoftext|>" in t for t in batched)  # special tokens skipped
    eos = hf_backend.generation_config.eos_token_id
    assert hf_backend.tokenizer.convert_tokens_to_ids("<|im_end|>") in eos
    assert hf_backend.generation_config.do_sample is False


def test_hf_seeded_sampling_repeats(shared_cache, hf_backend):
    cfg = BackendConfig(name="hf", batch_size=2, max_new_tokens=8, do_sample=True, temperature=1.0, seed=3)
    backend = build_backend(cfg, TINY, shared_cache)
    reqs = _requests()[:2]
    first, again = backend.generate(reqs), backend.generate(reqs)
    assert first == again
    backend.close()
    with pytest.raises(ValueError, match="temperature"):
        build_backend(BackendConfig(name="hf", do_sample=True, temperature=0.0), TINY, shared_cache)


def test_openai_messages_are_the_one_prompt():
    req = _requests()[0]
    msgs = openai_messages(req)
    ref = build_messages(req.question, req.choices, with_depth=True)
    assert ref == request_messages(req)
    assert [p["type"] for p in msgs[0]["content"]] == ["text", "image_url", "text", "image_url", "text"]
    texts = [p["text"] for p in msgs[0]["content"] if p["type"] == "text"]
    assert texts == [p["text"] for p in ref[0]["content"] if p["type"] == "text"]
    urls = [p["image_url"]["url"] for p in msgs[0]["content"] if p["type"] == "image_url"]
    assert urls == [image_to_data_url(req.images[0]), image_to_data_url(req.images[1])]  # RGB, then depth


def test_openai_backend_concurrency_cache_and_errors(tmp_path):
    seen = []

    def responder(body):
        text = body["messages"][0]["content"][-1]["text"]
        seen.append(text)
        return f"<answer>{text.split('?')[0][-12:]}</answer>"

    reqs = [GenRequest(id=f"q{i}", question=f"Question number {i}?", images=[Image.new("RGB", (8, 8))])
            for i in range(10)]
    with FakeOpenAIServer(responder, delay_s=0.05) as server:
        cfg = BackendConfig(name="openai", base_url=server.base_url, model="fake", max_concurrency=3,
                            max_new_tokens=33, max_retries=0, cache=True)
        backend = build_backend(cfg, TINY, tmp_path)
        out = backend.generate(reqs)
        assert out == [f"<answer>ion number {i}</answer>" for i in range(10)]
        assert server.max_in_flight <= 3 and len(server.requests) == 10
        body = server.requests[0]
        assert body["temperature"] == 0.0 and body["max_tokens"] == 33 and body["model"] == "fake"
        assert backend.generate(reqs) == out and len(server.requests) == 10  # on-disk cache
        server.add_faults("400")
        fresh = GenRequest(id="x", question="A new question?", images=[Image.new("RGB", (8, 8))])
        assert backend.generate([fresh]) == [""]
        assert "http_400" in backend.errors["x"]
        with pytest.raises(ValueError, match="checkpoint"):
            build_backend(cfg, TINY, tmp_path, checkpoint=str(tmp_path))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_missing_names_the_extra(tmp_path):
    with pytest.raises(MissingDependencyError, match=r"pip install sif\[vllm\]"):
        build_backend(BackendConfig(name="vllm"), TINY, tmp_path)


def test_unknown_backend_lists_known():
    with pytest.raises(KeyError, match="hf.*openai.*vllm"):
        build_backend(BackendConfig(name="nope"), TINY, ".")


def test_request_needs_one_or_two_images():
    with pytest.raises(ValueError, match="images"):
        GenRequest(id="a", question="q", images=[])


# ---- depth images ------------------------------------------------------------------------------------------

def _item(tmp_path: Path, name: str, depth: str | None = None) -> EvalItem:
    img = tmp_path / f"{name}.png"
    Image.new("RGB", (40, 30), (120, 80, 40)).save(img)
    return EvalItem(id=name, image=str(img), question="Is it near?", answer="yes", depth=depth)


def test_depth_image_prefers_the_png_sibling(tmp_path):
    from sif.depth import save_depth

    grad = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (30, 1))
    save_depth(grad, tmp_path / "a.npy", tmp_path / "a.png")
    save_depth(grad, tmp_path / "b.npy")
    assert depth_image(tmp_path / "a.npy") == str(tmp_path / "a.png")
    pic = depth_image(tmp_path / "b.npy")  # colourized now
    assert isinstance(pic, Image.Image) and pic.size == (40, 30)
    assert np.array_equal(np.asarray(pic), np.asarray(Image.open(tmp_path / "a.png").convert("RGB")))
    req = request_for(_item(tmp_path, "c", depth=str(tmp_path / "a.npy")))
    assert req.images[1] == str(tmp_path / "a.png") and req.with_depth


def test_missing_depth_with_ground_truth_is_refused(tmp_path):
    source = DepthSource(DepthConfig(name="ground_truth"), tmp_path / "cache")
    with pytest.raises(MissingDepthError, match="depth=depth_anything_v2"):
        source.fill([_item(tmp_path, "x")])


def test_missing_depth_is_computed_once_and_cached(tmp_path, caplog):
    from sif.depth import build_tiny_depth_anything

    tiny = build_tiny_depth_anything(tmp_path / "tiny-da")
    cfg = DepthConfig(name="depth_anything_v2", model=str(tiny), batch_size=2)
    items = [_item(tmp_path, f"i{k}") for k in range(3)]
    source = DepthSource(cfg, tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="sif.eval"):
        assert source.fill(items) == 3
    for it in items:
        assert Path(it.depth).is_file() and Path(it.depth).with_suffix(".png").is_file()
    again = [EvalItem(id=i.id, image=i.image, question=i.question, answer=i.answer) for i in items]
    fresh = DepthSource(cfg, tmp_path / "cache")
    fresh.fill(again)
    assert fresh._provider is None  # all cached: the model was never loaded
    assert [a.depth for a in again] == [i.depth for i in items]
