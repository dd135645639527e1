"""Exact token counts of prompt(-completion) examples, image tokens included, computed with the processor.

The count is what TRL's vision collator will feed the model: the prompt rendered with the chat template
(generation prompt added) and the completion rendered as its continuation, each tokenized without special
tokens, plus the tokens each image expands to. The expansion depends only on the images' sizes, so it is
measured once per tuple of sizes with blank images (`processor(text, images)` minus the plain tokenization).
"""

from __future__ import annotations

from typing import Any, Sequence

Size = tuple[int, int]


def render_example(processor: Any, prompt: list[dict], completion: list[dict] | None = None) -> tuple[str, str]:
    """(prompt text, completion text) exactly as TRL's collator renders them (trl.data_utils.apply_chat_template)."""
    from trl.data_utils import apply_chat_template

    example: dict[str, Any] = {"prompt": prompt}
    if completion is not None:
        example["completion"] = completion
    out = apply_chat_template(example, processor)
    return out["prompt"], out.get("completion", "")


class TokenCounter:
    """Counts tokens of examples for one processor; caches the image expansion per tuple of image sizes."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self._expansion: dict[tuple[Size, ...], int] = {}

    def image_tokens(self, sizes: Sequence[Size]) -> int:
        """Tokens that `len(sizes)` images of these (width, height) sizes add beyond their placeholders' text."""
        key = tuple((int(w), int(h)) for w, h in sizes)
        if not key:
            return 0
        if key not in self._expansion:
            from PIL import Image

            messages = [{"role": "user", "content": [{"type": "image"} for _ in key]}]
            text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
            plain = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            blanks = [Image.new("RGB", size) for size in key]
            full = self.processor(text=[text], images=blanks, add_special_tokens=False)["input_ids"][0]
            self._expansion[key] = len(full) - plain
        return self._expansion[key]

    def count_texts(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]

    def count(self, prompt: list[dict], completion: list[dict] | None, sizes: Sequence[Size]) -> int:
        """Total tokens of one example (prompt + completion + image tokens)."""
        return self.count_many([(prompt, completion, sizes)])[0]

    def count_many(self, examples: Sequence[tuple[list[dict], list[dict] | None, Sequence[Size]]]) -> list[int]:
        rendered = [render_example(self.processor, p, c) for p, c, _ in examples]
        prompt_lens = self.count_texts([p for p, _ in rendered])
        completion_lens = self.count_texts([c for _, c in rendered])
        return [p + c + self.image_tokens(sizes)
                for p, c, (_, _, sizes) in zip(prompt_lens, completion_lens, examples)]
