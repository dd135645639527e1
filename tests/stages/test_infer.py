"""stage=infer: one image + question -> chain, answer, and the picture of the areas (hf and openai backends;
depth from a .npy, from the synthetic split's ground truth, from Depth Anything, or refused)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sif.chain import Chain, Focus, Step, render_chain
from sif.eval.report.draw import PALETTE
from sif.runner import run
from tests.conftest import compose
from tests.fakes.openai_server import FakeOpenAIServer

CHAIN = render_chain(Chain([Step([Focus((0.0, 0.0, 1.0, 1.0), 0.5)], "The whole scene."),
                            Step([Focus((0.25, 0.25, 0.75, 0.75), 0.3)], "The red square is nearest.")], "red"))


@pytest.fixture
def photo(tmp_path) -> Path:
    arr = np.full((120, 160, 3), 90, dtype=np.uint8)
    arr[30:90, 40:120] = (220, 30, 30)
    path = tmp_path / "photo.jpg"
    Image.fromarray(arr).save(path)
    return path


def _infer(tmp_path: Path, cache: Path, *overrides: str) -> tuple[dict, Path]:
    cfg = compose(["stage=infer", f"paths.cache_dir={cache}", *overrides])
    out = tmp_path / "run"
    return run(cfg, run_dir=out), out


@pytest.mark.slow
def test_infer_openai_draws_the_areas_with_depth_anything(tmp_path, shared_cache, photo, capsys):
    from sif.depth import build_tiny_depth_anything

    tiny = build_tiny_depth_anything(shared_cache / "depth-models" / "tiny-da")
    with FakeOpenAIServer(lambda body: CHAIN) as server:
        summary, out = _infer(tmp_path, shared_cache, f"stage.image={photo}", "stage.question=Which is nearest?",
                              "backend=openai", f"backend.base_url={server.base_url}", "backend.cache=false",
                              "depth=depth_anything_v2", f"depth.model={tiny}", "depth.num_workers=0",
                              "depth.device=cpu", "depth.dtype=float32")
        parts = server.requests[0]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "image_url", "text"]
    assert summary["answer"] == "red" and summary["format_ok"] and summary["depth_source"] == "depth=depth_anything_v2"
    printed = capsys.readouterr().out
    assert CHAIN in printed and "--- answer ---\nred" in printed and str(out / "infer.png") in printed
    drawn = np.asarray(Image.open(out / "infer.png").convert("RGB"))
    assert drawn.shape == (120, 160, 3)
    assert tuple(drawn[60, 40]) == PALETTE[1] and tuple(drawn[60, 0]) == PALETTE[0]  # step 2 thick, step 1 frame
    record = json.loads((out / "infer.json").read_text())
    assert record["answer"] == "red" and len(record["areas"]) == 2
    assert 0.0 <= record["areas"][1][0]["map_depth"] <= 1.0 and record["areas"][1][0]["depth"] == 0.3
    assert (out / "depth.npy").is_file() and Image.open(out / "depth.png").size == (160, 120)


def test_ground_truth_depth_is_refused_for_an_arbitrary_image(tmp_path, shared_cache, photo):
    with pytest.raises(ValueError, match="stage.depth=<map.npy>.*depth_anything_v2.*stage.depth=flat"):
        _infer(tmp_path, shared_cache, f"stage.image={photo}", "stage.question=Where?")
    with pytest.raises(ValueError, match="stage.image"):
        _infer(tmp_path, shared_cache, "stage.question=Where?")


def test_infer_flat_depth_is_an_explicit_opt_in(tmp_path, shared_cache, photo, caplog):
    with FakeOpenAIServer(lambda body: "no chain at all") as server:
        summary, out = _infer(tmp_path, shared_cache, f"stage.image={photo}", "stage.question=Where?",
                              "stage.depth=flat", "backend=openai", f"backend.base_url={server.base_url}",
                              "backend.cache=false")
    assert summary["answer"] is None and not summary["format_ok"] and summary["depth_source"] == "flat"
    assert "constant depth image" in caplog.text
    assert np.asarray(Image.open(out / "infer.png").convert("RGB")).shape == (120, 160, 3)


@pytest.mark.slow
def test_infer_hf_on_a_synthetic_scene_uses_its_ground_truth(tmp_path, shared_cache, capsys):
    from sif.generate.dataset_cache import samples_path

    split = samples_path(compose(["dataset.eval_samples=4", f"paths.cache_dir={shared_cache}"]), "eval").parent
    sample = json.loads((split / "samples.jsonl").read_text().splitlines()[0])
    summary, out = _infer(tmp_path, shared_cache, f"stage.image={split / sample['image']}",
                          f"stage.question={sample['question']}", "backend=hf", "backend.max_new_tokens=12")
    assert summary["depth_source"] == str(split / sample["depth"])
    assert Image.open(out / "infer.png").size == Image.open(split / sample["image"]).size
    assert "--- chain ---" in capsys.readouterr().out
    record = json.loads((out / "infer.json").read_text())
    assert isinstance(record["completion"], str) and record["question"] == sample["question"]
