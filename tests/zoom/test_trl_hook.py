"""rollout=zoom inside TRL's GRPOTrainer (CPU, tiny model), on a hand-built two-turn trajectory: the model's
turn is scripted (a stand-in for generate), everything after it - the crop, the inserted turn, TRL's scoring,
its forward with the crop inside the completion, its masks - is the real code path."""

from __future__ import annotations

import copy

import numpy as np
import torch

from sif.prompt import build_messages
from sif.zoom.crop import ZoomSettings
from sif.zoom.rollout import ZoomRolloutSettings
from sif.zoom.trl_hook import ZoomRolloutMixin
from tests.fastgen.conftest import images
from tests.zoom.test_rollout import AFTER, AREA

SCRIPTS = [AREA + AFTER, "<think><text>none</text></think><answer>B</answer>"]


class ScriptedStep:
    """Stands in for generate: prompt row i (by its first image-free prefix) replays SCRIPTS[i % 2]."""

    def __init__(self, tokenizer, prompt_ids):
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.tok = tokenizer
        self.todo = {tuple(p): tokenizer(SCRIPTS[i % 2], add_special_tokens=False)["input_ids"] + [end]
                     for i, p in enumerate(prompt_ids)}
        self.lens = {len(p) for p in prompt_ids}

    def __call__(self, rows, images, budget, stop_at_area):
        out = []
        for row in rows:
            key = next(tuple(row[:n]) for n in sorted(self.lens) if tuple(row[:n]) in self.todo)
            todo, emitted = self.todo[key], []
            while todo and len(emitted) < budget:
                emitted.append(todo.pop(0))
                if stop_at_area and "</area>" in self.tok.decode(emitted):
                    break
            out.append(emitted)
        return out


def _trainer(model, processor, tmp_path):
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    class Trainer(ZoomRolloutMixin, GRPOTrainer):
        def _sif_zoom_step_generator(self, unwrapped):
            return self.scripted

    rows = []
    for i in range(2):
        rgb, depth = images(10 + i, [(160, 120), (160, 120)])
        rows.append({"prompt": build_messages(f"Where is thing {i}?", None, with_depth=True), "images": [rgb, depth]})
    args = GRPOConfig(output_dir=str(tmp_path / "z"), per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=512, max_steps=1, bf16=False, gradient_checkpointing=False,
                      report_to=[], logging_steps=1, save_strategy="no", use_cpu=True, seed=0, beta=0.04)
    trainer = Trainer(model=model, reward_funcs=[lambda completions, **kw: [float(len(str(c))) for c in completions]],
                      args=args, train_dataset=datasets.Dataset.from_list(rows), processing_class=processor)
    trainer.sif_zoom = ZoomRolloutSettings(crop=ZoomSettings(margin=0.0, min_size=28), max_zooms=2,
                                           max_new_tokens=512, with_depth=True)
    return trainer, rows


def test_zoom_turn_is_forwarded_with_its_crop_and_masked_out_of_the_loss(tiny, tmp_path):
    model, processor = tiny
    tok = processor.tokenizer
    trainer, rows = _trainer(copy.deepcopy(model), processor, tmp_path)
    from trl.data_utils import prepare_multimodal_messages

    inputs = [{**r, "prompt": r["prompt"]} for r in rows]
    prompts = [prepare_multimodal_messages(copy.deepcopy(r["prompt"]), images=r["images"]) for r in rows]
    prompt_ids, _, _ = trainer._tokenize_prompts(prompts)
    trainer.scripted = ScriptedStep(tok, prompt_ids)
    out = trainer._generate_and_score_completions(inputs)
    assert trainer.tools == [] or trainer.tools is None  # the stand-in only lives while a zoom batch is scored

    # row 0 zoomed once (RGB crop + depth crop inserted), row 1 answered without an area
    assert out["num_images"] == [4, 2]
    mask = (out["completion_mask"] * out["tool_mask"]).tolist()
    comp = out["completion_ids"].tolist()
    own0 = [t for t, m in zip(comp[0], mask[0]) if m]
    assert tok.decode(own0) == AREA + AFTER + "<|im_end|>"
    inserted0 = [t for t, m, c in zip(comp[0], mask[0], out["completion_mask"][0].tolist()) if c and not m]
    assert tok.decode(inserted0).count("<|vision_start|>") == 2 and "Zoom on [0.250,0.250,0.750,0.750]" in \
        tok.decode(inserted0)
    assert all(m == c for m, c in zip(mask[1], out["completion_mask"][1].tolist()))  # nothing inserted

    # the policy log-probs of TRL's loss (its forward with the crops inside the completion, exactly as
    # compute_loss calls it) = a direct forward of the same tokens with the four pictures in order
    from sif.zoom.crop import zoom
    from sif.zoom.turns import build_zoom_turn

    rgb, depth = rows[0]["images"]
    crops = zoom(rgb, [(0.25, 0.25, 0.75, 0.75)], trainer.sif_zoom.crop, depth=depth)
    assert crops[0].pixels == (40, 30, 120, 90)
    turn = build_zoom_turn(processor, crops, with_depth=True)
    script = tok(AREA + AFTER, add_special_tokens=False)["input_ids"] + [tok.convert_tokens_to_ids("<|im_end|>")]
    stop = next(k for k in range(1, len(script)) if "</area>" in tok.decode(script[:k]))
    completion = script[:stop] + turn.ids + script[stop:]
    assert comp[0][:len(completion)] == completion and mask[0][:len(completion)] == \
        [1] * stop + [0] * len(turn.ids) + [1] * (len(script) - stop)
    ids = torch.tensor([list(prompt_ids[0]) + completion])
    pics = processor.image_processor(images=[rgb, depth, crops[0].rgb, crops[0].depth], return_tensors="pt")
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    with torch.no_grad():
        logits = trainer.model(input_ids=ids, attention_mask=torch.ones_like(ids), mm_token_type_ids=(ids == pad).long(),
                               **pics).logits[0].float()
    logp = torch.log_softmax(logits[:-1], -1).gather(1, ids[0, 1:, None])[:, 0]
    n_prompt, k = len(prompt_ids[0]), len(completion)
    expected = logp[n_prompt - 1:n_prompt - 1 + k]
    full = torch.cat([out["prompt_ids"], out["completion_ids"]], 1)
    attn = torch.cat([out["prompt_mask"], out["completion_mask"]], 1)
    kw = {key: out[key] for key in ("pixel_values", "image_grid_thw", "mm_token_type_ids", "num_images") if key in out}
    with torch.no_grad():
        loss_logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, full, attn,
                                                                      out["completion_ids"].size(1), **kw)
    ours = loss_logps[0][:k]
    sel = torch.tensor(mask[0][:k], dtype=torch.bool)
    assert np.allclose(ours[sel].numpy(), expected[sel].numpy(), atol=1e-4)
    assert int(sel.sum()) == len(script)  # every model token and only those carry loss
    # the crop is what the model sees after the turn: another picture there changes the later log-probs only
    from PIL import Image

    other = processor.image_processor(images=[rgb, depth, Image.new("RGB", crops[0].rgb.size),
                                              crops[0].depth], return_tensors="pt")
    with torch.no_grad():
        logits2 = trainer.model(input_ids=ids, attention_mask=torch.ones_like(ids),
                                mm_token_type_ids=(ids == pad).long(), **other).logits[0].float()
    logp2 = torch.log_softmax(logits2[:-1], -1).gather(1, ids[0, 1:, None])[:, 0][n_prompt - 1:n_prompt - 1 + k]
    after = stop + len(turn.ids)
    assert torch.allclose(logp2[:stop], expected[:stop]) and not torch.allclose(logp2[after:], expected[after:])


def test_a_zoom_grpo_step_trains(tiny, tmp_path):
    model, processor = tiny
    trainer, rows = _trainer(copy.deepcopy(model), processor, tmp_path)
    from trl.data_utils import prepare_multimodal_messages

    prompts = [prepare_multimodal_messages(copy.deepcopy(r["prompt"]), images=r["images"]) for r in rows]
    prompt_ids, _, _ = trainer._tokenize_prompts(prompts)

    class Replay(ScriptedStep):  # every call replays afresh (TRL may generate more than once)
        def __call__(self, rows_, imgs, budget, stop_at_area):
            if all(not v for v in self.todo.values()):
                self.__init__(tok, prompt_ids)
            return super().__call__(rows_, imgs, budget, stop_at_area)

    tok = processor.tokenizer
    trainer.scripted = Replay(tok, prompt_ids)
    result = trainer.train()
    assert np.isfinite(result.training_loss)
    logged = [h for h in trainer.state.log_history if "zoom/per_completion" in h]
    assert logged and logged[0]["zoom/per_completion"] == 0.5  # one of the two completions zoomed
