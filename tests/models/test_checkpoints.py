"""One resolver of weights (sif.models.checkpoints): the four sources - hub id, checkpoint folder, LoRA adapter
(merged once), run folder - give the same answer in sft, grpo, probe, eval and export."""

from __future__ import annotations

import json
import shutil

import huggingface_hub.constants as hub_constants
import pytest
import torch

from sif.models.checkpoints import resolve_weights
from sif.models.factory import load_model_and_processor
from sif.registry import STAGES
from sif.runinfo import RunContext
from tests.conftest import compose
from tests.models.conftest import with_random_adapter

HUB_ID = "sif-test/tiny-vl"
SOURCES = ("hub", "checkpoint", "adapter", "run")
IDS = torch.tensor([[5, 6, 7, 8, 9]])


@pytest.fixture(scope="module")
def sources(tmp_path_factory, model_cfg, cache_dir, tiny_path):
    """Each source on disk, with the logits its weights must give."""
    root = tmp_path_factory.mktemp("weights")
    model, processor = load_model_and_processor(model_cfg, cache_dir, training=False)
    base_logits = model(input_ids=IDS).logits.detach()
    lora = with_random_adapter(model, model_cfg.lora)
    adapter = root / "adapter"
    lora.save_pretrained(adapter)
    processor.save_pretrained(adapter)
    adapter_logits = lora.eval()(input_ids=IDS).logits.detach()
    run = root / "sft-run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"checkpoint": str(adapter)}))
    rev = "0" * 40  # a hub id served from a local HF cache laid out as the hub client writes it
    repo = root / "hub" / f"models--{HUB_ID.replace('/', '--')}"
    shutil.copytree(tiny_path, repo / "snapshots" / rev)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    return {"root": root, "hub": (HUB_ID, base_logits), "checkpoint": (str(tiny_path), base_logits),
            "adapter": (str(adapter), adapter_logits), "run": (str(run), adapter_logits)}


@pytest.fixture()
def offline_hub(sources, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(sources["root"] / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)


def _logits(path, model_cfg, cache_dir):
    model, _ = load_model_and_processor(model_cfg, cache_dir, path=path, training=False)
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_each_source_resolves_to_loadable_weights(sources, model_cfg, cache_dir, tiny_path, offline_hub):
    assert resolve_weights(None, model_cfg, cache_dir) == str(tiny_path)  # nothing: the model group's model
    assert resolve_weights(HUB_ID, model_cfg, cache_dir) == HUB_ID
    assert resolve_weights(str(tiny_path), model_cfg, cache_dir) == str(tiny_path)
    merged = resolve_weights(sources["adapter"][0], model_cfg, cache_dir)
    assert merged.startswith(str(cache_dir / "merged" / "adapter-"))
    assert json.loads((cache_dir / merged / "MERGED_FROM.json").read_text())["adapter"] == sources["adapter"][0]
    stamp = (cache_dir / merged / "config.json").stat().st_mtime_ns
    assert resolve_weights(sources["run"][0], model_cfg, cache_dir) == merged  # the run hands on its adapter
    assert (cache_dir / merged / "config.json").stat().st_mtime_ns == stamp  # merged once, not again
    for name in SOURCES:
        path = resolve_weights(sources[name][0], model_cfg, cache_dir)
        assert torch.allclose(_logits(path, model_cfg, cache_dir), sources[name][1], atol=1e-4), name


def test_a_missing_folder_that_is_no_hub_id_is_refused(model_cfg, cache_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="neither an existing folder nor a hub id"):
        resolve_weights(str(tmp_path / "nope"), model_cfg, cache_dir)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("stage", ["sft", "grpo", "probe", "eval"])
def test_every_stage_takes_every_source(stage, source, sources, model_cfg, cache_dir, offline_hub, tmp_path):
    key = "checkpoint" if stage == "eval" else "init_from"
    cfg = compose([f"stage={stage}", f"stage.{key}={sources[source][0]}", f"paths.cache_dir={cache_dir}"])
    stage_obj = STAGES.get(stage)(cfg, RunContext(run_dir=tmp_path, cfg=cfg))
    assert stage_obj.weights() == resolve_weights(sources[source][0], model_cfg, cache_dir)
    if stage == "eval":  # the backend eval builds loads exactly those weights
        from sif.eval.backends.base import build_backend

        backend = build_backend(cfg.backend, cfg.model, cache_dir, cfg.stage.checkpoint)
        assert backend.path == stage_obj.weights()


@pytest.mark.parametrize("source", SOURCES)
def test_export_writes_a_standalone_checkpoint_from_every_source(source, sources, model_cfg, cache_dir,
                                                                  offline_hub, tmp_path):
    cfg = compose(["stage=export", f"stage.checkpoint={sources[source][0]}", f"paths.cache_dir={cache_dir}"])
    summary = STAGES.get("export")(cfg, RunContext(run_dir=tmp_path, cfg=cfg)).run()
    assert summary["checkpoint"] == str(tmp_path / "merged")
    assert (summary["adapter"] is not None) == (source in ("adapter", "run"))
    from transformers import AutoModelForImageTextToText

    plain = AutoModelForImageTextToText.from_pretrained(summary["checkpoint"]).eval()
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=IDS).logits, sources[source][1], atol=1e-4)
