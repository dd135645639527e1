"""stage=export merges an adapter; the merged checkpoint gives base+adapter's logits and loads plainly."""

import json

import torch

from sif.config.model import ModelConfig
from sif.models.factory import load_model_and_processor
from tests.models.conftest import with_random_adapter
from tests.conftest import run_launch


def test_export_merges_an_adapter(tmp_path, shared_cache):
    cfg = ModelConfig()
    cfg.lora.enabled = True
    model, processor = load_model_and_processor(cfg, shared_cache)
    model = with_random_adapter(model, cfg.lora)
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    processor.save_pretrained(adapter)
    run_launch(["stage=export", f"stage.checkpoint={adapter}"], cwd=tmp_path, env={"SIF_CACHE_DIR": str(shared_cache)})
    run = next((tmp_path / "outputs").glob("export-*"))
    merged = json.loads((run / "summary.json").read_text())["checkpoint"]
    from transformers import AutoModelForImageTextToText

    plain = AutoModelForImageTextToText.from_pretrained(merged).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        want = model.eval()(input_ids=ids).logits
        got = plain(input_ids=ids).logits
    assert torch.allclose(want, got, atol=1e-4)
