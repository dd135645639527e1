"""Closed-choice config values fail, naming the key, before any work (issue 15); eval never scores a
training file as if it were held out."""

from __future__ import annotations

import pytest

from sif.config.choices import CLOSED_CHOICES, ChoiceError, check_choices
from tests.conftest import compose, run_launch


@pytest.mark.parametrize("override, key", [
    ("stage.image_inputs=depth", "stage.image_inputs"), ("backend.image_inputs=rbg", "backend.image_inputs"),
    ("rollout.name=hf-fast", "rollout.name"), ("backend.name=HF", "backend.name"),
])
def test_a_misspelled_enum_choice_fails_while_composing(override, key):
    """image_inputs, backend and rollout are Enums in the schema (sif/config/enums.py): OmegaConf refuses the
    value during composition, naming the key and the choices (issue 16)."""
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as err:
        compose(["stage=grpo", override])
    assert f"override {override}" in str(err.value)
    assert f"full_key: {key}" in str(err.value.__cause__) and "expected one of [" in str(err.value.__cause__)


@pytest.mark.parametrize("override, key", [
    ("model.tiny.mrope_layout=interleave", "model.tiny.mrope_layout"), ("stage.prompt=papr", "stage.prompt"),
])
def test_a_misspelled_choice_names_its_key(override, key):
    cfg = compose(["stage=grpo", override])
    with pytest.raises(ChoiceError, match=key.replace(".", r"\.")):
        check_choices(cfg)


def test_every_default_is_one_of_its_choices():
    for stage in ("sft", "grpo", "eval", "probe", "pipeline"):
        check_choices(compose([f"stage={stage}"]))
    assert set(CLOSED_CHOICES["stage.image_inputs"]) == {"rgb+depth", "rgb", "blank"}


def test_launch_refuses_before_any_work(tmp_path):
    proc = run_launch(["stage=eval", "backend.image_inputs=rgb_depth", f"paths.output_root={tmp_path}", "run_name=x"],
                      cwd=tmp_path, check=False)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0 and "Invalid value 'rgb_depth'" in out and "full_key: backend.image_inputs" in out
    assert not (tmp_path / "x" / "config.yaml").exists()


def test_eval_refuses_a_training_file_without_its_held_out_split(tmp_path):
    from sif.generate.dataset_cache import samples_path

    train = tmp_path / "mine" / "samples.jsonl"
    train.parent.mkdir()
    train.write_text("")
    cfg = compose(["stage=eval", f"dataset.path={train}"])
    assert samples_path(cfg, "train") == train
    with pytest.raises(ValueError, match="no held-out split beside it"):
        samples_path(cfg, "eval")
    split = tmp_path / "gen" / "train" / "samples.jsonl"   # stage=generate's layout: train/ and eval/
    (tmp_path / "gen" / "eval").mkdir(parents=True)
    split.parent.mkdir(parents=True)
    (tmp_path / "gen" / "eval" / "samples.jsonl").write_text("")
    assert samples_path(compose(["stage=eval", f"dataset.path={split}"]), "eval") == tmp_path / "gen" / "eval" / "samples.jsonl"
