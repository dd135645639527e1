"""SFT in the zoom format: the chain cut after its areas with the crop turns between, labels only on the model's
text, the same sequence the rollout engine builds from the same tokens, and a collator the model trains on."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sif.prompt import build_messages
from sif.zoom.crop import ZoomSettings
from sif.zoom.rollout import Trajectory, ZoomRolloutSettings, run_zoom_rollout
from sif.zoom.sft import IGNORE, ZoomSFTCollator, chain_segments, zoom_example
from tests.fastgen.conftest import images

CHAIN = ('<think><area>[{"bbox_2d":[0.0,0.0,1.0,1.0],"depth":0.5}]</area><text>whole</text>'
         '<area>[{"bbox_2d":[0.25,0.25,0.75,0.75],"depth":0.4}]</area><text>closer</text>'
         '<area>[{"bbox_2d":[0.5,0.5,0.75,0.75],"depth":0.3}]</area><text>there</text></think><answer>A</answer>')
SETTINGS = ZoomRolloutSettings(crop=ZoomSettings(margin=0.0, min_size=28), max_zooms=2, max_new_tokens=4096,
                               with_depth=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["<area>", "</area>", "x", "<text>", "</text>", "é"]), max_size=30),
       st.integers(0, 4))
def test_segments_join_back_to_the_chain(parts, k):
    chain = "".join(parts)
    segs = chain_segments(chain, k)
    assert "".join(segs) == chain and len(segs) <= k + 1
    assert all(s.endswith("</area>") for s in segs[:-1])


def _prompt(processor):
    pics = images(5, [(160, 120), (160, 120)])
    text = processor.apply_chat_template(build_messages("Which?", ["a", "b"], with_depth=True),
                                         add_generation_prompt=True)
    return text, pics


def test_labels_cover_the_model_text_only_and_the_rollout_builds_the_same_sequence(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    text, pics = _prompt(processor)
    ex = zoom_example(processor, text, pics, CHAIN, SETTINGS)
    n_prompt = len(processor(text=[text], images=pics)["input_ids"][0])
    assert ex.zooms == 2 and len(ex.images) == 6  # RGB + depth, then two crops with their depth crops
    assert all(lab == IGNORE for lab in ex.labels[:n_prompt])
    learned = [t for t, lab in zip(ex.input_ids, ex.labels) if lab != IGNORE]
    assert tok.decode(learned) == CHAIN + "<|im_end|>"
    inserted = [t for t, lab in zip(ex.input_ids[n_prompt:], ex.labels[n_prompt:]) if lab == IGNORE]
    assert tok.decode(inserted).count("Zoom on [") == 2 and "[0.000,0.000,1.000,1.000]" in tok.decode(inserted)

    # the engine, given these same model tokens, inserts the same turns at the same places
    class Replay:
        def __init__(self):
            self.todo = list(learned)

        def __call__(self, rows, imgs, budget, stop_at_area):
            out = []
            while self.todo and len(out) < budget:
                out.append(self.todo.pop(0))
                if stop_at_area and "</area>" in tok.decode(out):
                    break
            return [out]

    t = Trajectory(prompt_ids=ex.input_ids[:n_prompt], images=list(pics), rgb=pics[0], depth=pics[1])
    run_zoom_rollout([t], Replay(), processor, SETTINGS, [tok.convert_tokens_to_ids("<|im_end|>")])
    assert t.completion_ids == ex.input_ids[n_prompt:]
    assert t.mask == [int(lab != IGNORE) for lab in ex.labels[n_prompt:]]
    assert [np.asarray(a).tolist() == np.asarray(b).tolist() for a, b in zip(t.images, ex.images)] == [True] * 6


def test_collator_batches_train_and_truncation_keeps_pictures_whole(tiny):
    model, processor = tiny
    text, pics = _prompt(processor)
    msgs = build_messages("Which?", ["a", "b"], with_depth=True)
    features = [{"prompt": msgs, "completion": [{"role": "assistant", "content": [{"type": "text", "text": CHAIN}]}],
                 "images": pics},
                {"prompt": msgs, "completion": [{"role": "assistant", "content": [{"type": "text",
                                                 "text": "<think><text>no area</text></think><answer>B</answer>"}]}],
                 "images": pics}]
    batch = ZoomSFTCollator(processor, SETTINGS)(features)
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    grid = batch["image_grid_thw"]
    assert grid.shape[0] == 6 + 2  # 6 pictures for the zoomed chain, 2 for the other
    assert int((batch["input_ids"] == pad).sum()) == int(grid.prod(-1).sum()) // 4
    loss = model(**batch).loss
    assert torch.isfinite(loss)

    full = ZoomSFTCollator(processor, SETTINGS).example(features[0])
    starts = [i for i, t in enumerate(full.input_ids) if t == processor.tokenizer.convert_tokens_to_ids(
        "<|vision_start|>")]
    cut = starts[2] + 3  # inside the first crop's image tokens
    short = ZoomSFTCollator(processor, SETTINGS, max_length=cut).example(features[0])
    assert len(short.images) == 2 and len(short.input_ids) == starts[2]  # the crop and all after it dropped
    batch = ZoomSFTCollator(processor, SETTINGS, max_length=cut)(features[:1])
    assert torch.isfinite(model(**batch).loss)
