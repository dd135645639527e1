"""The synthetic cache that sft / grpo / eval build and `stage=generate` write the same chains (issue 16:
the cache used to fall back to 1 expansion step while the generate stage writes 2)."""

import json

from omegaconf import OmegaConf

from sif.config.stages import GenerateStageConfig
from sif.generate.dataset_cache import samples_path, synth_cache_key
from sif.generate.split import generate_settings
from sif.runner import run as run_stage
from tests.conftest import compose

SMALL = ["dataset.num_samples=6", "dataset.eval_samples=2"]


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_cache_built_by_sft_equals_stage_generate(tmp_path):
    cached = samples_path(compose(["stage=sft", *SMALL, f"paths.cache_dir={tmp_path / 'cache'}"]), "train")
    summary = run_stage(compose(["stage=generate", *SMALL, "dataset.split=train",
                                 f"paths.cache_dir={tmp_path / 'cache2'}"]), run_dir=tmp_path / "gen")
    from_cache = [(r["id"], r["chain"], r["answer"]) for r in _records(cached)]
    from_stage = [(r["id"], r["chain"], r["answer"]) for r in _records(tmp_path / "gen" / "samples.jsonl")]
    assert summary["samples"] == 6 and len(from_cache) == 6
    assert from_cache == from_stage


def test_settings_are_the_generate_schema_outside_the_generate_stage():
    assert generate_settings(compose(["stage=sft"])) == GenerateStageConfig()
    assert generate_settings(compose(["stage=eval"])).expansion_steps == GenerateStageConfig().expansion_steps == 2
    assert generate_settings(compose(["stage=generate", "stage.expansion_steps=1"])).expansion_steps == 1


def test_cache_key_covers_generation_teacher_and_depth_settings():
    base = compose(["stage=generate"])
    assert synth_cache_key(base) == synth_cache_key(compose(["stage=generate", "dataset.split=eval"]))
    changed = [["stage.expansion_steps=1"], ["stage.distractor_prob=0.1"], ["seed=7"], ["dataset.num_samples=3"]]
    for extra in changed:
        assert synth_cache_key(compose(["stage=generate", *extra])) != synth_cache_key(base), extra
    teacher = OmegaConf.to_container(base.teacher)
    assert teacher  # the teacher group is part of the key: a different teacher is a different cache
    other = base.copy()
    OmegaConf.set_struct(other, False)
    other.teacher.name = "openai"
    assert synth_cache_key(other) != synth_cache_key(base)
