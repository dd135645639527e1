"""Samples -> GRPO rows: THE two-image prompt (as SFT/eval), the pictures, every reward column, the order."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sif.prompt import build_messages
from sif.grpo.data import REWARD_COLUMNS, build_rows, with_depth_images
from tests.conftest import compose


@pytest.fixture(scope="module")
def cfg(shared_cache):
    return compose(["stage=grpo", "dataset=synth", f"paths.cache_dir={shared_cache}"])


def _stage(cfg, **overrides):
    stage = OmegaConf.to_object(cfg.stage)
    for k, v in overrides.items():
        setattr(stage, k, v)
    return stage


def _strip(messages):
    """Messages as plain data without Arrow's None-filled struct keys."""
    return [{"role": m["role"], "content": [{k: v for k, v in part.items() if v is not None}
                                            for part in m["content"]]} for m in messages]


def test_rows_have_the_shared_prompt_images_and_reward_columns(cfg):
    rows = build_rows(cfg, _stage(cfg))
    assert len(rows.dataset) == len(rows.items) == 200 and not rows.ordered and not rows.report.rejected
    row = rows.dataset[0]
    sample = rows.items[0].sample
    assert _strip(row["prompt"]) == build_messages(sample.question, sample.choices, with_depth=True)
    assert [p.get("text") for p in row["prompt"][0]["content"] if p["type"] == "text"][:2] == [
        "Original image: ", "\nDepth image: "]
    assert len(row["images"]) == 2 and all(im.mode == "RGB" for im in row["images"])
    assert set(REWARD_COLUMNS) <= set(row)
    assert row["id"] == sample.id and row["answer"] == sample.answer and row["choices"] == sample.choices
    assert row["gt_boxes"] == [list(b) for b in sample.gt_boxes] and row["num_objects"] == sample.num_objects
    assert Path(row["depth"]).is_absolute() and row["depth"].endswith(".npy") and Path(row["depth"]).is_file()
    assert Path(row["image"]).is_absolute() and Path(row["image"]).is_file()
    assert row["chain"] == sample.chain and row["question"] == sample.question


def test_rgb_only_prompt(cfg):
    row = build_rows(cfg, _stage(cfg, image_inputs="rgb")).dataset[3]
    assert len(row["images"]) == 1
    assert sum(p["type"] == "image" for p in row["prompt"][0]["content"]) == 1
    assert row["depth"].endswith(".npy")  # the depth reward still has its map
    with pytest.raises(ValueError, match="image_inputs"):
        with_depth_images("depth")


def test_curriculum_order_easy_to_hard(cfg):
    from sif.curriculum import build_curriculum

    curriculum = build_curriculum({"name": "none", "order_by": "num_objects"}, {"format": 1.0})
    rows = build_rows(cfg, _stage(cfg), curriculum)
    counts = [r["num_objects"] for r in rows.dataset]
    assert rows.ordered and counts == sorted(counts) and counts[0] < counts[-1]


def test_bad_samples_are_skipped_and_counted(cfg, tmp_path):
    src = build_rows(cfg, _stage(cfg)).samples_path
    lines = src.read_text().splitlines()[:3]
    import json

    recs = [json.loads(x) for x in lines]
    for r in recs:
        r["image"] = str(src.parent / r["image"])
        r["depth"] = str(src.parent / r["depth"])
    recs[1]["depth"] = str(tmp_path / "missing.npy")
    recs[2]["image"] = str(tmp_path / "missing.png")
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    local = cfg.copy()
    OmegaConf.set_struct(local, False)
    local.dataset.allow_path_escape = True
    rows = build_rows(local, _stage(cfg), samples_file=path)
    assert [i.sample.id for i in rows.items] == [recs[0]["id"]]
    assert rows.report.by_reason() == {"depth_missing": 1, "image_missing": 1}
