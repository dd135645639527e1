"""backend=vllm: the offline `vllm.LLM` engine (no server), fed THE prompt rendered by the checkpoint's own
chat template and the two images as multi-modal data, in order (RGB, depth).

vllm is optional: it is imported when the backend is built, and its absence is a clear error naming the
extra (`pip install sif[vllm]`). Greedy is temperature 0; sampling passes `backend.seed` to every request.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from sif.eval.backends.base import Backend, GenRequest, load_image, request_messages
from sif.models.checkpoints import resolve_weights
from sif.registry import BACKENDS

log = logging.getLogger("sif.eval")


class MissingDependencyError(ImportError):
    """An optional package needed by the chosen backend is not installed."""


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError(
            f"backend=vllm needs the 'vllm' package, which is not installed ({exc}); install the extra with "
            "`pip install sif[vllm]` (or `pip install -e '.[vllm]'`), or use backend=hf") from None
    return vllm


@BACKENDS.register("vllm")
class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, cfg: Any, model_cfg: Any, cache_dir: str | Path, checkpoint: Optional[str] = None) -> None:
        super().__init__(cfg, model_cfg, cache_dir, checkpoint)
        vllm = import_vllm()
        from sif.models.factory import load_processor
        from sif.models.positions import refuse_position_channel

        self.path = resolve_weights(checkpoint, model_cfg, self.cache_dir)
        refuse_position_channel(self.path)
        self.processor = load_processor(self.path, model_cfg)
        dtype = str(getattr(model_cfg, "dtype", "auto"))
        self.llm = vllm.LLM(
            model=self.path, tokenizer=self.path, dtype=dtype, seed=self.sampling.seed,
            gpu_memory_utilization=float(getattr(cfg, "vllm_gpu_memory_utilization", 0.8)),
            limit_mm_per_prompt={"image": 2},
            mm_processor_kwargs={"min_pixels": int(model_cfg.min_pixels), "max_pixels": int(model_cfg.max_pixels)},
        )
        s = self.sampling
        self.params = vllm.SamplingParams(
            temperature=s.temperature if s.do_sample else 0.0, top_p=s.top_p if s.do_sample else 1.0,
            max_tokens=s.max_new_tokens, seed=s.seed if s.do_sample else None, skip_special_tokens=True,
        )

    def _prompt(self, req: GenRequest) -> dict:
        text = self.processor.apply_chat_template(request_messages(req), tokenize=False, add_generation_prompt=True)
        return {"prompt": text, "multi_modal_data": {"image": [load_image(im) for im in req.images]}}

    def _generate(self, requests: list[GenRequest]) -> list[str]:
        outputs = self.llm.generate([self._prompt(r) for r in requests], self.params, use_tqdm=False)
        return [o.outputs[0].text if o.outputs else "" for o in outputs]

    def info(self) -> dict[str, Any]:
        return {**super().info(), "model_path": self.path}

    def close(self) -> None:
        self.llm = None
