"""The SFT examples as TRL's collator sees them: loss only on the chain, token counts exact (image tokens included)."""

from __future__ import annotations

import pytest

from sif.prompt import build_messages
from sif.training.dataset import ExampleTransform, build_dataset, sft_example
from sif.training.lengths import TokenCounter
from sif.training.samples import load_checked_samples
from tests.training.helpers import CHAIN, record, write_samples


@pytest.fixture()
def checked(tmp_path):
    records = [record(0), record(1, question="How many objects are there?", choices=None, answer="2",
                                 chain=CHAIN.replace("\nA\n", "\n2\n"))]
    return load_checked_samples(write_samples(tmp_path, records)).kept


@pytest.mark.parametrize("with_depth", [True, False])
def test_labels_mask_the_prompt_and_keep_the_chain(checked, tiny_processor, with_depth):
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    ds = build_dataset(checked, ExampleTransform(with_depth=with_depth))
    examples = ds.__getitems__([0, 1])
    assert examples[0]["prompt"] == build_messages("Which object is closer to the camera?",
                                                   ["the red cube", "the blue sphere"], with_depth=with_depth)
    assert examples[0]["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": CHAIN}]}]
    assert len(examples[0]["images"]) == (2 if with_depth else 1)
    collator = DataCollatorForVisionLanguageModeling(processor=tiny_processor, max_length=None,
                                                     completion_only_loss=True)
    batch = collator(examples)
    tok = tiny_processor.tokenizer
    image_id = tiny_processor.image_token_id
    counter = TokenCounter(tiny_processor)
    for row, item in enumerate(checked):
        ids, labels, mask = batch["input_ids"][row], batch["labels"][row], batch["attention_mask"][row]
        trained = labels != -100
        first = int(trained.nonzero()[0])
        # everything before the completion (system, user turn, both images, "assistant\n") is masked ...
        assert (labels[:first] == -100).all()
        assert (ids[:first] == image_id).sum() > 0
        assert tok.decode(ids[:first]).endswith("<|im_start|>assistant\n")
        # ... and exactly the chain plus the end of turn is trained on
        assert tok.decode(ids[trained]) == item.sample.chain + "<|im_end|>\n"
        assert (labels[trained] == ids[trained]).all()
        assert not (trained & (mask == 0)).any()
        # the stage's length check counts what the model is fed
        prompt, completion = sft_example(item, with_depth)
        assert counter.count(prompt, completion, item.sizes[: 2 if with_depth else 1]) == int(mask.sum())


def test_image_token_expansion_is_cached_per_size(tiny_processor):
    counter = TokenCounter(tiny_processor)
    one = counter.image_tokens([(96, 64)])
    two = counter.image_tokens([(96, 64), (96, 64)])
    assert one > 0 and two == 2 * one
    assert counter.image_tokens([(320, 240)]) > one
    assert len(counter._expansion) == 3
