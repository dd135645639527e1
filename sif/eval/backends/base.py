"""The backend interface, the request record, and what all backends share (prompt, images, sampling)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

from sif.prompt import build_messages
from sif.registry import BACKENDS

log = logging.getLogger("sif.eval")


@dataclass
class GenRequest:
    """One prompt: the question (without options), its choices, and the images in prompt order
    (RGB first, then the depth colour image), each a PIL image or a file path."""

    id: str
    question: str
    choices: Optional[list[str]] = None
    images: list[Any] = field(default_factory=list)
    prompt_style: str = "sif"  # sif | paper (sif.prompt, phase "infer")

    def __post_init__(self) -> None:
        if len(self.images) not in (1, 2):
            raise ValueError(f"request {self.id!r}: expected [rgb] or [rgb, depth] images, got {len(self.images)}")

    @property
    def with_depth(self) -> bool:
        return len(self.images) == 2


def request_messages(req: GenRequest) -> list[dict]:
    """THE prompt of a request (`sif.prompt.build_messages`), with `{"type": "image"}` placeholders."""
    return build_messages(req.question, req.choices, with_depth=req.with_depth, style=req.prompt_style, phase="infer")


def load_image(image: Any) -> Any:
    """A PIL RGB image from a PIL image or a path (opened with the decompression-bomb guard)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        from sif.data.images import open_rgb

        return open_rgb(image)
    raise TypeError(f"an image must be a PIL image or a path, got {type(image).__name__}")


@dataclass(frozen=True)
class Sampling:
    """Decoding settings shared by the backends: greedy unless `do_sample`; `seed` makes sampling repeatable."""

    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    seed: int

    @classmethod
    def from_cfg(cls, cfg: Any) -> "Sampling":
        do_sample = bool(getattr(cfg, "do_sample", False))
        temperature = float(getattr(cfg, "temperature", 0.0))
        if do_sample and temperature <= 0:
            raise ValueError("backend.do_sample=true needs backend.temperature > 0")
        return cls(max_new_tokens=int(getattr(cfg, "max_new_tokens", 256)), do_sample=do_sample,
                   temperature=temperature if do_sample else 0.0, top_p=float(getattr(cfg, "top_p", 1.0)),
                   seed=int(getattr(cfg, "seed", 0)))


class Backend:
    """`generate(requests) -> list[str]`, one completion per request, in order.

    A request that could not be answered (a server error after all retries) gives "" and its reason in
    `errors[request.id]` (reset by every `generate` call); local backends raise instead.
    """

    name: ClassVar[str] = ""

    def __init__(self, cfg: Any, model_cfg: Any, cache_dir: str | Path, checkpoint: Optional[str] = None) -> None:
        self.cfg = cfg
        self.model_cfg = model_cfg
        self.cache_dir = Path(cache_dir).expanduser()
        self.checkpoint = str(checkpoint) if checkpoint else None
        self.sampling = Sampling.from_cfg(cfg)
        self.errors: dict[str, str] = {}
        self.calls = 0  # generate() calls, and requests sent through them (tests count these)
        self.requests_seen = 0

    @property
    def chunk_size(self) -> int:
        """How many requests the eval loop hands to one `generate` call."""
        return max(1, int(getattr(self.cfg, "batch_size", 8)))

    def generate(self, requests: Sequence[GenRequest]) -> list[str]:
        self.errors = {}
        self.calls += 1
        self.requests_seen += len(requests)
        if not requests:
            return []
        out = self._generate(list(requests))
        if len(out) != len(requests):
            raise RuntimeError(f"backend {self.name} returned {len(out)} completions for {len(requests)} requests")
        return out

    def _generate(self, requests: list[GenRequest]) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What results.json records about the backend (no secrets)."""
        return {"name": self.name, "checkpoint": self.checkpoint, **self.sampling.__dict__}

    def close(self) -> None:
        """Free what the backend holds (models, engines)."""


def build_backend(cfg: Any, model_cfg: Any, cache_dir: str | Path, checkpoint: Optional[str] = None,
                  zoom_cfg: Any = None) -> Backend:
    """The backend registered under `cfg.name` (unknown names list the known ones); `backend.zoom=true`
    (crop rules in `zoom_cfg`, the zoom node) runs on the hf backend only."""
    name = str(cfg.name)
    if bool(getattr(cfg, "zoom", False)):
        if name != "hf":
            raise ValueError(f"backend.zoom=true needs backend=hf (got backend={name}): zoom turns insert the "
                             "crops between generation rounds of a local model")
        return BACKENDS.get(name)(cfg, model_cfg, cache_dir, checkpoint, zoom_cfg=zoom_cfg)
    return BACKENDS.get(name)(cfg, model_cfg, cache_dir, checkpoint)


