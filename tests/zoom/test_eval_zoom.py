"""eval with backend.zoom=true, end to end: a tiny model taught to write one fixed chain (so its area
is known) is evaluated through launch.py; the crops it saw are written, listed per item, and shown as a strip
in the HTML report, checked in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_launch
from tests.eval.test_report import chromium

pytestmark = [pytest.mark.slow]

TARGET = '<think><area>[{"bbox_2d":[0.25,0.25,0.75,0.75],"depth":0.4}]</area><text>look</text></think>' \
         "<answer>A</answer>"


EVAL = ["stage=eval", "model=tiny", "dataset.eval_samples=3"]


@pytest.fixture(scope="module")
def parrot(tmp_path_factory, shared_cache) -> Path:
    """The tiny model trained to answer the 3 eval items' prompts (built by the eval's own request and prompt
    code) with TARGET, and the infer test's prompt too: a checkpoint folder whose first area is known."""
    import torch

    from sif.config.model import ModelConfig
    from sif.eval.backends.base import load_image, request_messages
    from sif.eval.backends.inputs import DepthSource, request_for
    from sif.eval.runner import benchmark_for
    from sif.models.factory import load_model_and_processor
    from tests.conftest import compose

    cfg = compose([*EVAL, f"paths.cache_dir={shared_cache}"])
    items = benchmark_for(cfg, shared_cache).load()[:3]
    DepthSource(cfg.depth, shared_cache).fill(items)
    requests = [request_for(it, with_depth=True) for it in items]
    requests.append(_infer_request(tmp_path_factory.mktemp("infer-inputs")))
    torch.manual_seed(0)
    model, processor = load_model_and_processor(ModelConfig(name="tiny", max_pixels=76800), shared_cache,
                                                training=True)
    batch = []
    for r in requests:
        pics = [load_image(im) for im in r.images]
        prompt = processor.apply_chat_template(request_messages(r), add_generation_prompt=True)
        enc = processor(text=[prompt + TARGET + "<|im_end|>"], images=pics, return_tensors="pt")
        labels = enc["input_ids"].clone()
        labels[:, :len(processor(text=[prompt], images=pics)["input_ids"][0])] = -100
        batch.append({**enc, "labels": labels})
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for step in range(120):
        loss = model(**batch[step % len(batch)]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("parrot") / "ckpt"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


INFER_QUESTION = "Which object is nearest to the camera?"


def _photo(folder: Path) -> Path:
    import numpy as np

    arr = np.full((120, 160, 3), 90, dtype=np.uint8)
    arr[30:90, 40:120] = (220, 30, 30)
    path = folder / "photo.png"
    Image.fromarray(arr).save(path)
    return path


def _infer_request(folder: Path):
    """The request stage=infer builds for _photo with stage.depth=flat (a constant 0.5 map, written as infer
    writes it), so that the parrot writes TARGET for it too."""
    import numpy as np

    from sif.data.images import open_rgb
    from sif.depth import save_depth
    from sif.eval.backends import GenRequest

    photo = _photo(folder)
    save_depth(np.full((120, 160), 0.5, dtype=np.float32), folder / "depth.npy", folder / "depth.png")
    return GenRequest(id="infer", question=INFER_QUESTION, images=[open_rgb(photo), str(folder / "depth.png")])


def test_infer_with_zoom_saves_the_crop_it_showed(parrot, tmp_path, shared_cache):
    photo = _photo(tmp_path)
    run_launch(["stage=infer", f"stage.image={photo}", f"stage.question={INFER_QUESTION}", "stage.depth=flat",
                f"stage.checkpoint={parrot}", "model=tiny", "backend.zoom=true", "zoom.max_zooms=1", "zoom.margin=0",
                "backend.max_new_tokens=200", "run_name=zoom-infer"], cwd=tmp_path,
               env={"SIF_CACHE_DIR": str(shared_cache)})
    run = tmp_path / "outputs" / "zoom-infer"
    record = json.loads((run / "infer.json").read_text())
    assert record["completion"].startswith(TARGET.split("<text>")[0])
    [z] = record["zooms"]
    assert z["box"] == [0.25, 0.25, 0.75, 0.75]
    assert z["pixels"] == [40, 30, 120, 90]  # the box in the 160x120 photo's pixels, margin 0
    with Image.open(run / z["image"]) as crop:
        assert crop.size == (80, 60)
        assert crop.convert("RGB").getpixel((40, 30)) == (220, 30, 30)  # the red square it zoomed on


def test_eval_with_zoom_writes_the_crops_and_the_report_shows_them(parrot, tmp_path, shared_cache):
    args = [*EVAL, f"stage.checkpoint={parrot}", "backend.zoom=true",
            "zoom.max_zooms=1", "zoom.margin=0", "backend.max_new_tokens=200", "backend.batch_size=3",
            "run_name=zoom-eval"]
    run_launch(args, cwd=tmp_path, env={"SIF_CACHE_DIR": str(shared_cache)})
    run = tmp_path / "outputs" / "zoom-eval"
    records = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 3
    for rec in records:
        assert rec["completion"].startswith(TARGET.split("<text>")[0])  # the model's own text, turns removed
        [z] = rec["zooms"]
        assert z["box"] == [0.25, 0.25, 0.75, 0.75]
        with Image.open(run / z["image"]) as crop:
            assert crop.size == (z["pixels"][2] - z["pixels"][0], z["pixels"][3] - z["pixels"][1])
    results = json.loads((run / "results.json").read_text())
    assert results["backend"]["zoom"]["max_zooms"] == 1
    html = (run / "report.html").read_text()
    assert html.count('class="zooms" data-zooms="1"') == 3 and "zoom 1 on [0.250,0.250,0.750,0.750]" in html

    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (make test installs it where apt-get is available)")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
             (run / "report.html").resolve().as_uri()]
    dom = subprocess.run(flags, capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body[^>]*>", dom.stdout).group(0)))
    assert len(re.findall(r'<img class="zoom"', dom.stdout)) == 3
    assert body.get("images-failed") == "0" and body.get("images-loaded") == body.get("images-total"), body
