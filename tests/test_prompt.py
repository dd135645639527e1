"""The prompt wordings (sif.prompt): SIF's one wording, and the original's per phase for paper_* runs."""

from __future__ import annotations

import pytest

from sif.prompt import INSTRUCTION, PAPER_RL_INSTRUCTION, build_messages


def _texts(messages):
    return [c.get("text") if c["type"] == "text" else "<image>" for c in messages[0]["content"]]


def test_sif_is_one_wording_in_every_phase():
    for phase in ("sft", "rl", "infer"):
        assert _texts(build_messages("Q?", None, True, phase=phase)) == [
            "Original image: ", "<image>", "\nDepth image: ", "<image>", f"\nQ? {INSTRUCTION}"]


def test_the_papers_wordings():
    # RL: one unlabelled RGB image, "{question} " + the RL sentence (no "with depth")
    assert _texts(build_messages("Q?", None, False, style="paper", phase="rl")) == ["<image>", f"Q? {PAPER_RL_INSTRUCTION}"]
    assert "with depth" in INSTRUCTION and "with depth" not in PAPER_RL_INSTRUCTION
    # inference: the labelled two-image layout with the RL sentence; SFT: SIF's (the original SFT data's)
    assert _texts(build_messages("Q?", None, True, style="paper", phase="infer"))[-1] == f"\nQ? {PAPER_RL_INSTRUCTION}"
    assert build_messages("Q?", None, True, style="paper", phase="sft") == build_messages("Q?", None, True)
    with pytest.raises(ValueError, match="RGB image only"):
        build_messages("Q?", None, True, style="paper", phase="rl")
    with pytest.raises(ValueError, match="prompt style"):
        build_messages("Q?", style="papers")


def test_grpo_rows_and_config_carry_the_papers_rl_prompt_and_sampling(tmp_path):
    from sif.grpo.args import grpo_kwargs
    from sif.grpo.data import build_rows
    from tests.conftest import compose

    cfg = compose(["stage=grpo", "dataset=synth", "dataset.num_samples=6", "stage.image_inputs=rgb",
                   "stage.prompt=paper", "stage.top_k=50", f"paths.cache_dir={tmp_path}"])
    row = build_rows(cfg, cfg.stage).dataset[0]
    assert _texts(row["prompt"])[0] == "<image>" and len(row["images"]) == 1
    assert _texts(row["prompt"])[-1].endswith(PAPER_RL_INSTRUCTION)
    kwargs = grpo_kwargs(cfg.stage, cfg, tmp_path, [1.0], processes=1)
    assert kwargs["top_k"] == 50
    bad = compose(["stage=grpo", "dataset=synth", "dataset.num_samples=6", "stage.prompt=paper",
                   f"paths.cache_dir={tmp_path}"])
    with pytest.raises(ValueError, match="stage.image_inputs=rgb"):
        build_rows(bad, bad.stage)


def test_eval_requests_carry_the_style():
    from sif.eval.backends.base import GenRequest, request_messages

    req = GenRequest(id="x", question="Q?", images=["a.png", "b.png"], prompt_style="paper")
    assert _texts(request_messages(req))[-1] == f"\nQ? {PAPER_RL_INSTRUCTION}"
    assert _texts(request_messages(GenRequest(id="y", question="Q?", images=["a.png"])))[-1] == f"\nQ? {INSTRUCTION}"
