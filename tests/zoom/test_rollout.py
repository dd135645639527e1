"""The multi-turn zoom engine: turns, masks, budgets (issue 17).

The turn logic is checked with a scripted step generator standing in for the model (it replays fixed token
strings, so every mask is known by hand); the transformers generator is checked against the processor's own
encoding of the same conversation with a real tiny model.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sif.zoom.crop import ZoomSettings
from sif.zoom.rollout import Trajectory, ZoomRolloutSettings, last_area_boxes, run_zoom_rollout
from sif.zoom.turns import build_zoom_turn, turn_content, turn_text

AREA = '<think><area>[{"bbox_2d":[0.25,0.25,0.75,0.75],"depth":0.4}]</area>'
AFTER = "<text>the cube</text></think><answer>A</answer>"


def _picture(w=160, h=120, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


class Scripted:
    """The model's stand-in: row i emits script[i] (token ids) across rounds, honouring the stop at </area>
    the way generate does (it stops on the token that completes it) and the round's token budget."""

    def __init__(self, tokenizer, scripts: list[str]) -> None:
        self.tok = tokenizer
        self.todo = [tokenizer(s, add_special_tokens=False)["input_ids"] + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
                     for s in scripts]
        self.calls: list[tuple[int, bool, int]] = []  # rows, stop_at_area, budget

    def __call__(self, rows, images, budget, stop_at_area):
        self.calls.append((len(rows), stop_at_area, budget))
        out = []
        for row in rows:
            i = self.row_index[tuple(row[:self.prompt_len])]
            emitted = []
            while self.todo[i] and len(emitted) < budget:
                emitted.append(self.todo[i].pop(0))
                if stop_at_area and "</area>" in self.tok.decode(emitted):
                    break
            out.append(emitted)
        return out


def _trajs(processor, n, prompt_len=5):
    trajs = [Trajectory(prompt_ids=[100 + i] * prompt_len, images=[_picture(seed=i)], rgb=_picture(seed=i))
             for i in range(n)]
    return trajs


def _run(processor, scripts, settings):
    tok = processor.tokenizer
    gen = Scripted(tok, scripts)
    trajs = _trajs(processor, len(scripts))
    gen.prompt_len = 5
    gen.row_index = {tuple(t.prompt_ids): i for i, t in enumerate(trajs)}
    eos = [tok.convert_tokens_to_ids("<|im_end|>")]
    return run_zoom_rollout(trajs, gen, processor, settings, eos), gen


SETTINGS = ZoomRolloutSettings(crop=ZoomSettings(margin=0.0, min_size=28), max_zooms=2, max_new_tokens=4096,
                               with_depth=False)


def test_one_zoom_turn_inserted_masked_and_the_model_text_is_the_chain(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    [t], gen = _run(processor, [AREA + AFTER], SETTINGS)
    assert t.finished and t.ended_by == "eos" and t.zooms == 1 and len(t.crops) == 1
    assert t.crops[0].pixels == (40, 30, 120, 90)  # the box in the 160x120 picture, exact
    assert t.model_text(tok) == AREA + AFTER  # turns removed: what the rewards read

    script = tok(AREA + AFTER, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    stop = next(k for k in range(1, len(script)) if "</area>" in tok.decode(script[:k]))  # generate's stop
    model_part1, model_part2 = script[:stop], script[stop:]
    turn = build_zoom_turn(processor, t.crops, with_depth=False)
    assert t.completion_ids == model_part1 + turn.ids + model_part2
    assert t.mask == [1] * len(model_part1) + [0] * len(turn.ids) + [1] * len(model_part2)
    assert len(t.images) == 2 and t.images[1] is t.crops[0].rgb
    # the inserted turn closes the assistant turn, shows the labelled crop, opens a new assistant turn
    inserted = tok.decode(turn.ids)
    assert inserted.startswith("<|im_end|>\n<|im_start|>user\nZoom on [0.250,0.250,0.750,0.750]: <|vision_start|>")
    assert inserted.endswith("<|vision_end|><|im_end|>\n<|im_start|>assistant\n")
    n_pad = turn.ids.count(tok.convert_tokens_to_ids("<|image_pad|>"))
    grid = processor.image_processor(images=[t.crops[0].rgb], return_tensors="pt")["image_grid_thw"][0]
    assert n_pad == int(grid.prod()) // 4  # one token per merged 2x2 patch
    assert [c[1] for c in gen.calls] == [True, True]  # two rounds, both may zoom


def test_zoom_budget_then_areas_no_longer_stop_generation(tiny):
    _, processor = tiny
    two = AREA + '<text>a</text><area>[{"bbox_2d":[0.0,0.0,0.5,0.5],"depth":0.2}]</area>' \
          '<text>b</text><area>[{"bbox_2d":[0.5,0.5,1.0,1.0],"depth":0.9}]</area></think><answer>B</answer>'
    settings = ZoomRolloutSettings(crop=SETTINGS.crop, max_zooms=2, max_new_tokens=4096, with_depth=False)
    [t], gen = _run(processor, [two], settings)
    assert t.zooms == 2 and [c.pixels for c in t.crops] == [(40, 30, 120, 90), (0, 0, 80, 60)]
    assert [c[1] for c in gen.calls] == [True, True, False]  # the third area is written without a stop
    assert t.model_text(processor.tokenizer) == two


def test_refused_boxes_add_no_turn_and_generation_goes_on(tiny):
    _, processor = tiny
    bad = '<think><area>[{"bbox_2d":[0.5,0.5,0.5,0.9],"depth":0.4}]</area>' + AFTER
    [t], _ = _run(processor, [bad], SETTINGS)
    assert t.zooms == 0 and t.refused_areas == 1 and all(m == 1 for m in t.mask)
    assert t.model_text(processor.tokenizer) == bad


def test_rows_advance_together_and_the_budget_counts_inserted_tokens(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    scripts = [AREA + AFTER, "<think><text>no zoom</text></think><answer>C</answer>"]
    trajs, gen = _run(processor, scripts, SETTINGS)
    assert [t.zooms for t in trajs] == [1, 0] and all(t.ended_by == "eos" for t in trajs)
    assert gen.calls[0][0] == 2 and gen.calls[1][0] == 1  # one batched round, then the zoomed row alone
    # a budget that ends inside the second turn: truncated there, masks still aligned
    script = tok(AREA + AFTER, add_special_tokens=False)["input_ids"]
    first = next(k for k in range(1, len(script)) if "</area>" in tok.decode(script[:k]))
    turn_len = len(build_zoom_turn(processor, trajs[0].crops, False).ids)
    short = ZoomRolloutSettings(crop=SETTINGS.crop, max_zooms=2, max_new_tokens=first + turn_len + 3,
                                with_depth=False)
    [t], _ = _run(processor, [AREA + AFTER], short)
    assert t.ended_by == "budget" and len(t.completion_ids) == first + turn_len + 3
    assert t.mask == [1] * first + [0] * turn_len + [1] * 3
    # no room for a turn: no zoom, the model goes on in the same turn
    tight = ZoomRolloutSettings(crop=SETTINGS.crop, max_zooms=2, max_new_tokens=first + 5, with_depth=False)
    [t], _ = _run(processor, [AREA + AFTER], tight)
    assert t.zooms == 0 and all(m == 1 for m in t.mask) and len(t.completion_ids) == first + 5


def test_depth_crops_follow_their_crop(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    gen = Scripted(tok, [AREA + AFTER])
    rgb, depth = _picture(seed=1), _picture(seed=2)
    t = Trajectory(prompt_ids=[7] * 5, images=[rgb, depth], rgb=rgb, depth=depth)
    gen.prompt_len, gen.row_index = 5, {(7,) * 5: 0}
    settings = ZoomRolloutSettings(crop=SETTINGS.crop, max_zooms=1, max_new_tokens=4096, with_depth=True)
    run_zoom_rollout([t], gen, processor, settings, [tok.convert_tokens_to_ids("<|im_end|>")])
    assert len(t.images) == 4 and np.array_equal(np.asarray(t.images[3]), np.asarray(depth)[30:90, 40:120])
    text = tok.decode([i for i, m in zip(t.completion_ids, t.mask) if not m])
    assert text.count("<|vision_start|>") == 2 and "Depth of the zoom: " in text


def test_last_area_boxes_reads_untrusted_text():
    assert last_area_boxes(AREA) == [(0.25, 0.25, 0.75, 0.75)]
    assert last_area_boxes("<area>[1,2]</area><area>not json</area>") == []
    assert last_area_boxes("no area at all") == []
    two = '<area>[{"bbox_2d":[0.1,0.1,0.2,0.2],"depth":1}]</area><area>[{"bbox_2d":[0.3,0.3,0.4,0.4],"depth":1}]</area>'
    assert last_area_boxes(two) == [(0.3, 0.3, 0.4, 0.4)]


def test_turn_text_comes_from_the_chat_template(tiny):
    _, processor = tiny
    text = turn_text(processor, [{"type": "text", "text": "x"}])
    assert text == "<|im_end|>\n<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
    assert turn_content([], True) == []
    with pytest.raises(ValueError, match="at least one crop"):
        build_zoom_turn(processor, [], False)


def test_hf_step_generator_sees_what_the_processor_encodes(tiny):
    """One round on a trajectory holding a zoom turn = greedy generate on the processor's own encoding of
    the same conversation text and pictures (image tokens, grids and positions agree)."""
    import torch
    from transformers import GenerationConfig

    from sif.zoom.crop import zoom
    from sif.zoom.hf_step import HFStepGenerator

    model, processor = tiny
    tok = processor.tokenizer
    rgb = _picture(seed=3)
    prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                             {"type": "text", "text": "Where?"}]}], add_generation_prompt=True)
    crops = zoom(rgb, [(0.25, 0.25, 0.75, 0.75)], SETTINGS.crop)
    turn = build_zoom_turn(processor, crops, False)
    full_text = prompt + AREA + turn_text(processor, turn_content(crops, False))
    ref_in = processor(text=[full_text], images=[rgb, crops[0].rgb], return_tensors="pt")
    row = [int(x) for x in ref_in["input_ids"][0]]
    assert row[-len(turn.ids):] == turn.ids  # the turn's tokens are what the processor makes of its text
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    config = GenerationConfig(do_sample=False, max_new_tokens=8, eos_token_id=[eos], pad_token_id=tok.pad_token_id)
    gen = HFStepGenerator(model, processor, config)
    built = gen.inputs([row], [[rgb, crops[0].rgb]])
    assert torch.equal(built["pixel_values"], ref_in["pixel_values"])
    assert torch.equal(built["image_grid_thw"], ref_in["image_grid_thw"])
    if "mm_token_type_ids" in ref_in:
        assert torch.equal(built["mm_token_type_ids"], ref_in["mm_token_type_ids"])
    [ours] = gen([row], [[rgb, crops[0].rgb]], 8, False)
    with torch.no_grad():
        ref = model.generate(**ref_in, generation_config=config)[0, len(row):].tolist()
    assert ours[:len(ref)] == ref and len(ref) >= 1


def test_fast_step_generator_gives_generate_tokens_on_rows_with_a_zoom_turn(tiny):
    """zoom.fast: the fast path on multi-image rows (prompt pictures + a crop turn) = transformers' generate."""
    from transformers import GenerationConfig

    from sif.fastgen.generator import FastGenerator
    from sif.zoom.crop import zoom
    from sif.zoom.hf_step import FastStepGenerator, HFStepGenerator

    model, processor = tiny
    tok = processor.tokenizer
    rows, pics = [], []
    for seed in (3, 4):
        rgb = _picture(seed=seed)
        prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": "Where?" * seed}]}], add_generation_prompt=True)
        crops = zoom(rgb, [(0.25, 0.25, 0.75, 0.75)], SETTINGS.crop)
        text = prompt + AREA + turn_text(processor, turn_content(crops, False))
        rows.append([int(x) for x in processor(text=[text], images=[rgb, crops[0].rgb])["input_ids"][0]])
        pics.append([rgb, crops[0].rgb])
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    config = GenerationConfig(do_sample=False, max_new_tokens=12, eos_token_id=[eos], pad_token_id=tok.pad_token_id)
    ref = HFStepGenerator(model, processor, config)(rows, pics, 12, False)
    fast = FastGenerator(model, processor, {"compile": False})
    got = FastStepGenerator(model, processor, config, fast)(rows, pics, 12, True)
    assert fast.stats.fallback_calls == 0 and fast.mode == "graph"
    assert [g[:len(r)] for g, r in zip(got, ref)] == ref  # generate pads finished rows; equal where it wrote
