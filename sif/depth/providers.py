"""Depth providers, registered in `sif.registry.DEPTH_PROVIDERS` under the names configs use.

- `ground_truth`: the renderer's exact map, for synthetic scenes (carried by `Scene.image()`).
- `depth_anything_v2`: the transformers depth-estimation pipeline, as SIFThinker used Depth Anything V2
  (it ran ViT-L; `size` picks the hub id, `model` overrides it with a hub id or a local folder).

Every provider returns per-image relative maps (HxW float32, 0 = nearest, 1 = farthest) at the size of
the input image. transformers and torch are imported only when a model is actually loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from PIL import Image

from sif.data.scenes import DEPTH_INFO_KEY
from sif.depth.map import normalize_disparity
from sif.registry import DEPTH_PROVIDERS

if TYPE_CHECKING:  # the schema imports Hydra; providers only read attributes of it
    from sif.config.data import DepthConfig

HUB_IDS = {
    "small": "depth-anything/Depth-Anything-V2-Small-hf",
    "base": "depth-anything/Depth-Anything-V2-Base-hf",
    "large": "depth-anything/Depth-Anything-V2-Large-hf",
}
DTYPES = ("float32", "float16", "bfloat16")


class DepthProvider:
    """Base class: build from a DepthConfig, then `predict(images)` -> one 0..1 map per image."""

    def __init__(self, cfg: DepthConfig) -> None:
        self.cfg = cfg

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        raise NotImplementedError


def build_depth_provider(cfg: DepthConfig) -> DepthProvider:
    """The provider registered under `cfg.name` (unknown names list the known ones)."""
    return DEPTH_PROVIDERS.get(cfg.name)(cfg)


@DEPTH_PROVIDERS.register("ground_truth")
class GroundTruthDepthProvider(DepthProvider):
    """Returns the exact normalised depth that `sif.data.scenes` attached to each image."""

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        out = []
        for i, img in enumerate(images):
            depth = img.info.get(DEPTH_INFO_KEY)
            if depth is None:
                raise ValueError(
                    f"image {i}: no ground-truth depth attached; the ground_truth provider serves only "
                    "synthetic scenes (sif.data.scenes.Scene.image()); use depth=depth_anything_v2 for other images")
            arr = np.array(depth, dtype=np.float32)
            if arr.shape != (img.height, img.width):
                raise ValueError(f"image {i}: attached depth has shape {arr.shape}, image is {img.height}x{img.width}")
            out.append(arr)
        return out


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; anything else is passed to torch as given."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(name: str) -> Any:
    if name not in DTYPES:
        raise ValueError(f"depth dtype {name!r} is not one of {list(DTYPES)}")
    import torch

    return getattr(torch, name)


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32))
    return np.asarray(img.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)


@DEPTH_PROVIDERS.register("depth_anything_v2")
class DepthAnythingV2Provider(DepthProvider):
    """`transformers.pipeline("depth-estimation")`; the raw `predicted_depth` (disparity-like, larger = closer)
    is resized to the image by the pipeline and turned into 1 - minmax (0 nearest).

    The pipeline is built on first use. Images are grouped by size before batching, so a batch never
    mixes sizes (the DPT processor keeps the aspect ratio, so mixed sizes would not stack).
    """

    def __init__(self, cfg: DepthConfig) -> None:
        super().__init__(cfg)
        if cfg.model is None and cfg.size not in HUB_IDS:
            raise ValueError(f"depth size {cfg.size!r} is not one of {sorted(HUB_IDS)} (or set depth.model)")
        if cfg.batch_size < 1:
            raise ValueError(f"depth batch_size must be >= 1, got {cfg.batch_size}")
        if cfg.dtype not in DTYPES:
            raise ValueError(f"depth dtype {cfg.dtype!r} is not one of {list(DTYPES)}")
        self.model_id: str = cfg.model or HUB_IDS[cfg.size]
        self._pipe: Optional[Any] = None

    @property
    def pipeline(self) -> Any:
        if self._pipe is None:
            from transformers import pipeline

            self._pipe = pipeline("depth-estimation", model=self.model_id, device=resolve_device(self.cfg.device),
                                  dtype=resolve_dtype(self.cfg.dtype), batch_size=self.cfg.batch_size)
        return self._pipe

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        groups: dict[tuple[int, int], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.size, []).append(i)
        results: list[Optional[np.ndarray]] = [None] * len(images)
        for (width, height), idxs in groups.items():
            outs = self.pipeline([images[i].convert("RGB") for i in idxs], batch_size=self.cfg.batch_size,
                                 num_workers=self.cfg.num_workers)
            if isinstance(outs, dict):
                outs = [outs]
            for i, out in zip(idxs, outs):
                disp = np.squeeze(out["predicted_depth"].detach().float().cpu().numpy())
                if disp.shape != (height, width):
                    disp = _resize(disp, width, height)
                results[i] = normalize_disparity(disp)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]
