from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf

from sif.config.store import STAGE_SCHEMAS
from tests.conftest import ROOT, compose, run_launch

GROUPS = ["model", "dataset", "stage", "reward", "curriculum", "depth", "teacher", "judge",
          "benchmark", "backend", "rollout", "logger", "deepspeed", "experiment"]


def test_every_group_option_composes():
    for group in GROUPS:
        for yaml in sorted((ROOT / "conf" / group).glob("*.yaml")):
            cfg = compose([f"{group}={yaml.stem}"])
            assert cfg is not None, yaml


def test_misspelled_key_fails_naming_the_key():
    with pytest.raises(ConfigCompositionException, match="num_samplez"):
        compose(["stage=generate", "dataset.num_samplez=3"])
    with pytest.raises(ConfigCompositionException, match="limitt"):
        compose(["stage=generate", "stage.limitt=3"])


def test_wrong_type_fails():
    with pytest.raises(ConfigCompositionException, match="num_samples"):
        compose(["dataset.num_samples=many"])


def test_unknown_stage_lists_known_ones():
    with pytest.raises(MissingConfigException) as err:
        compose(["stage=nonsense"])
    for name in STAGE_SCHEMAS:
        assert name in str(err.value)


def test_stage_nodes_are_typed():
    for name, schema in STAGE_SCHEMAS.items():
        cfg = compose([f"stage={name}"])
        assert isinstance(OmegaConf.to_object(cfg.stage), schema)


def test_launch_rejects_typo_before_any_work(tmp_path: Path):
    proc = run_launch(["stage=generate", "dataset.num_samplez=3"], cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "num_samplez" in proc.stderr
    assert not (tmp_path / "outputs").exists()
