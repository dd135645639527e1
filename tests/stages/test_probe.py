"""The grounding probe (issue 14), end to end through launch.py: CI's test that a model trained by SIF LOOKS.

The tiny model with its position channel (interleaved M-RoPE + the vision tower's sincos code) learns where
the one object of a scene is; the same probe on blank pictures stays at the mean-box prior, so the first test
fails for a model that does not look. Measured with this exact command (seed 42, one thread, 2026-12-06, 800
steps): R^2 0.980 (x) / 0.938 (y), mean IoU 0.451, Acc@0.5 0.435 against the prior's 0.028 / 0.015, in 3 min
14 s; on blank pictures R^2 -0.58 / -0.84, IoU 0.027, Acc@0.5 0 (benchmarks/results/issue14/
probe_launch*_seed42.json). The thresholds below leave room for another machine's arithmetic. With the stock layout (model.tiny.mrope_layout=chunked model.tiny.vision_position=none) x stays at
R^2 < 0 (docs/RESULTS.md), so the first test also fails without the position channel."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_launch


# A hang guard, not a timing assertion: 524 s was measured for one probe on 2 cores with half a core of other
# load; with a third probe training beside the two (a demo run alongside the suite) both passed 900 s at step
# ~500 of 800 and failed. 2,400 s leaves room for such a machine and still ends a real hang.
PROBE_HANG_GUARD_S = 2400


def _probe(tmp_path, *extra: str) -> dict:
    run_launch(["experiment=grounding_probe", "seed=42", f"paths.output_root={tmp_path}",
                f"paths.cache_dir={tmp_path / 'cache'}", "run_name=probe", *extra], cwd=tmp_path,
               timeout=PROBE_HANG_GUARD_S)
    run = tmp_path / "probe"
    assert (run / "DONE").exists() and (run / "probe.png").is_file()
    assert len((run / "predictions.jsonl").read_text().splitlines()) == 200
    return json.loads((run / "probe.json").read_text())


@pytest.mark.slow
@pytest.mark.first
def test_probe_learns_both_axes(tmp_path):
    result = _probe(tmp_path)
    m, prior = result["metrics"], result["mean_box_prior"]
    assert m["parsed"] >= 0.95
    assert m["r2_x"] >= 0.8 and m["r2_y"] >= 0.8, m
    assert m["acc_at_iou"] >= 0.25, m
    assert m["acc_at_iou"] >= prior["acc_at_iou"] + 0.2 and m["mean_iou"] >= 3 * prior["mean_iou"], (m, prior)


@pytest.mark.slow
@pytest.mark.first
def test_probe_on_blank_pictures_stays_at_the_prior(tmp_path):
    result = _probe(tmp_path, "stage.image_inputs=blank")
    m, prior = result["metrics"], result["mean_box_prior"]
    assert m["r2_x"] <= 0.1 and m["r2_y"] <= 0.1, m
    assert m["acc_at_iou"] <= prior["acc_at_iou"] + 0.05, (m, prior)
    assert m["mean_iou"] <= prior["mean_iou"] + 0.05, (m, prior)
