"""backend=hf: transformers `generate`, batched with LEFT padding (a decoder continues after the last
prompt token, so every prompt must end at the same position), greedy unless `backend.do_sample`.

Decoding stops at the model's EOS ids plus `<|im_end|>` (the chat turn's end); the new tokens are decoded
with `skip_special_tokens=True` (the chain tags are ordinary text, so they survive). Sampling is seeded per
batch from `backend.seed` and the batch's first id, so a given batching repeats exactly.
`backend.fast=true` generates through `sif.fastgen.FastGenerator` (static KV cache, CUDA graphs, torch.compile;
the same tokens as `generate`), falling back to transformers' static-cache generate for other architectures.
`backend.zoom=true` runs each request through the multi-turn zoom engine (sif.eval.backends.zoom; crop rules
from the `zoom` node, given as `zoom_cfg`); the crops each item's model saw wait in `self.zooms` by id until
the caller takes them (`zooms.pop(id)`).
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any, Optional

from sif.eval.backends.base import Backend, GenRequest, load_image, request_messages
from sif.models.checkpoints import resolve_weights
from sif.registry import BACKENDS

log = logging.getLogger("sif.eval")
END_OF_TURN = "<|im_end|>"


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


@BACKENDS.register("hf")
class HFBackend(Backend):
    name = "hf"

    def __init__(self, cfg: Any, model_cfg: Any, cache_dir: str | Path, checkpoint: Optional[str] = None,
                 zoom_cfg: Any = None) -> None:
        super().__init__(cfg, model_cfg, cache_dir, checkpoint)
        import torch

        from sif.models.factory import load_model_and_processor

        self.path = resolve_weights(checkpoint, model_cfg, self.cache_dir)
        self.model, self.processor = load_model_and_processor(model_cfg, self.cache_dir, path=self.path)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.generation_config = self._generation_config()
        self.zoom = None  # backend.zoom: the engine's settings (sif.zoom.settings)
        if bool(getattr(cfg, "zoom", False)):
            if bool(getattr(cfg, "fast", False)):
                raise ValueError("backend.zoom=true runs on transformers' generate; set backend.fast=false")
            from sif.zoom.settings import rollout_settings

            self.zoom = rollout_settings(zoom_cfg, max_new_tokens=self.sampling.max_new_tokens)
        self.zooms: dict[str, list] = {}
        self.fast = None  # backend.fast: sif.fastgen.FastGenerator (static cache, CUDA graphs, compile)
        if bool(getattr(cfg, "fast", False)):
            from sif.fastgen import FastGenerator

            self.fast = FastGenerator(self.model, self.processor, {"compile": True})

    def _generation_config(self) -> Any:
        from transformers import GenerationConfig

        eos = _as_list(getattr(self.model.generation_config, "eos_token_id", None))
        eos += _as_list(self.tokenizer.eos_token_id)
        end = self.tokenizer.convert_tokens_to_ids(END_OF_TURN)
        if isinstance(end, int) and end != getattr(self.tokenizer, "unk_token_id", None):
            eos.append(end)
        s = self.sampling
        kwargs: dict[str, Any] = dict(max_new_tokens=s.max_new_tokens, do_sample=s.do_sample,
                                      eos_token_id=sorted(set(eos)), pad_token_id=self.tokenizer.pad_token_id)
        if s.do_sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p)
        else:  # explicit neutral values: no warning about sampling flags on a greedy config
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if bool(getattr(self.cfg, "fast", False)):
            kwargs["cache_implementation"] = "static"
        return GenerationConfig(**kwargs)

    def _inputs(self, batch: list[GenRequest]) -> Any:
        texts = [self.processor.apply_chat_template(request_messages(r), tokenize=False, add_generation_prompt=True)
                 for r in batch]
        images = [load_image(im) for r in batch for im in r.images]
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        return inputs.to(self.device)

    def _generate(self, requests: list[GenRequest]) -> list[str]:
        import torch

        out: list[str] = []
        size = self.chunk_size
        for start in range(0, len(requests), size):
            batch = requests[start:start + size]
            if self.sampling.do_sample:
                torch.manual_seed((self.sampling.seed * 1_000_003 + zlib.crc32(batch[0].id.encode())) % 2**63)
            if self.zoom is not None:
                from sif.eval.backends.zoom import zoom_generate

                with torch.inference_mode():
                    texts, crops = zoom_generate(self.model, self.processor, self.generation_config, self.zoom, batch)
                out += texts
                self.zooms.update(crops)
                continue
            inputs = self._inputs(batch)
            with torch.inference_mode():
                generate = self.fast.generate if self.fast is not None else self.model.generate
                tokens = generate(**inputs, generation_config=self.generation_config)
            new = tokens[:, inputs["input_ids"].shape[1]:].cpu()
            out += self.tokenizer.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return out

    def info(self) -> dict[str, Any]:
        info = {**super().info(), "model_path": self.path, "device": str(self.device),
                "batch_size": self.chunk_size, "dtype": str(getattr(self.model_cfg, "dtype", ""))}
        if self.zoom is not None:
            info["zoom"] = {"max_zooms": self.zoom.max_zooms, **self.zoom.crop.__dict__}
        return info

    def close(self) -> None:
        self.model = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass
