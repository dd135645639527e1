"""backend=openai: any OpenAI-compatible chat server (`vllm serve`, a hosted model as a baseline).

The messages are THE prompt with each `{"type": "image"}` placeholder replaced, in order, by an
`image_url` part holding the image as a data URL (RGB, then depth); the text parts are the same strings.
Requests go through `sif.llm.LLMClient`: at most `backend.max_concurrency` in flight, retries with
backoff, an on-disk response cache under `<cache>/llm` (`backend.cache`). Greedy sends temperature 0;
sampling sends temperature, top_p and seed. A request that fails after its retries gives "" and its reason
in `errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from sif.eval.backends.base import Backend, GenRequest, request_messages
from sif.registry import BACKENDS


def openai_messages(req: GenRequest, max_side: Optional[int] = None) -> list[dict]:
    """THE prompt as OpenAI chat messages: text parts verbatim, image parts as data URLs in order."""
    from sif.llm.images import image_to_data_url

    images = iter(req.images)
    out = []
    for message in request_messages(req):
        parts = []
        for part in message["content"]:
            if part.get("type") == "image":
                url = image_to_data_url(next(images), max_side=max_side)
                parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        out.append({"role": message["role"], "content": parts})
    return out


@BACKENDS.register("openai")
class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, cfg: Any, model_cfg: Any, cache_dir: str | Path, checkpoint: Optional[str] = None) -> None:
        super().__init__(cfg, model_cfg, cache_dir, checkpoint)
        from sif.llm.client import LLMClient

        if checkpoint:
            raise ValueError("backend=openai answers with the server's model (backend.model); a checkpoint "
                             f"({checkpoint}) cannot be loaded through it: serve it (vllm serve) or use backend=hf")
        self.client = LLMClient(cfg, cache_dir=self.cache_dir / "llm")

    @property
    def chunk_size(self) -> int:  # keep the server busy: several rounds of max_concurrency per call
        return max(super().chunk_size, 4 * max(1, int(getattr(self.cfg, "max_concurrency", 16))))

    def _overrides(self) -> dict[str, Any]:
        s = self.sampling
        if not s.do_sample:
            return {"temperature": 0.0, "max_tokens": s.max_new_tokens}
        return {"temperature": s.temperature, "top_p": s.top_p, "seed": s.seed, "max_tokens": s.max_new_tokens}

    def _generate(self, requests: list[GenRequest]) -> list[str]:
        results = self.client.complete_many([openai_messages(r) for r in requests], **self._overrides())
        out = []
        for req, res in zip(requests, results):
            if isinstance(res, str):
                out.append(res)
            else:
                self.errors[req.id] = str(res)
                out.append("")
        return out

    def info(self) -> dict[str, Any]:
        return {**super().info(), "base_url": self.client.base_url, "model": self.client.model,
                "stats": self.client.stats.to_dict()}
