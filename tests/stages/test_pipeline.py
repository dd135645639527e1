"""stage=pipeline with the blind-control arm: the same training on blank pictures, shown beside the model."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from tests.conftest import run_launch


@pytest.mark.slow
def test_blind_step_trains_on_blank_pictures_and_feeds_the_controls(tmp_path, shared_cache):
    run_launch(["stage.steps=[generate,sft,blind,eval]", "stage.sft_max_steps=3", "dataset.num_samples=24",
                "dataset.eval_samples=6", "backend.max_new_tokens=24", "seed=3", f"paths.output_root={tmp_path}",
                f"paths.cache_dir={shared_cache}", "run_name=p"], cwd=tmp_path, timeout=900)
    run = tmp_path / "p"
    blind_sft = OmegaConf.load(run / "blind" / "sft" / "config.yaml")
    main_sft = OmegaConf.load(run / "sft" / "config.yaml")
    assert blind_sft.stage.image_inputs == "blank" and main_sft.stage.image_inputs == "rgb+depth"
    assert OmegaConf.load(run / "blind" / "eval" / "config.yaml").backend.image_inputs == "blank"
    blind = json.loads((run / "blind" / "eval" / "results.json").read_text())["aggregate"]
    main = json.loads((run / "eval" / "results.json").read_text())["aggregate"]
    rows = main["controls"]["rows"]
    assert rows["blind control"]["overall"] == blind["overall"]
    assert {"chance", "question-only prior", "majority answer", "constant-box prior"} <= set(rows)
    assert main["controls"]["train_file"] == str(run / "generate" / "train" / "samples.jsonl")
    assert "Against image-blind controls" in (run / "eval" / "results.md").read_text()
    assert "blind control" in (run / "eval" / "report.html").read_text()


def test_blind_after_eval_is_refused(tmp_path):
    proc = run_launch(["stage.steps=[generate,eval,blind]", f"paths.output_root={tmp_path}", "run_name=p"],
                      cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode != 0 and "'blind' must come before 'eval'" in proc.stderr + proc.stdout
