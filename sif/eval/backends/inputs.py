"""From a benchmark item to a backend request: the RGB image and the depth colour image.

The depth image of an item is, in this order of preference:
1. the colour PNG beside its depth .npy (`depth/x.npy` -> `depth/x.png`, as stage=generate writes them);
2. the .npy colourized now (Spectral_r, `sif.depth.colorize`);
3. for items without a depth map (external benchmarks without `benchmark.depth_root`): a map computed by
   the depth group's provider, stored once in `<cache>/depth/<provider>/<key>.npy` (+ .png) and set as the
   item's `depth`, so the model sees and the depth-consistency score uses the same map.
`depth=ground_truth` exists only for synthetic scenes: items without a map then stop the run, naming the
fixes (depth=depth_anything_v2, or benchmark.depth_root=<folder of .npy maps>).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from sif.eval.backends.base import GenRequest
from sif.views import blanked, depth_image

log = logging.getLogger("sif.eval")


class MissingDepthError(ValueError):
    """Items have no depth map and the depth group cannot compute one."""


def _provider_key(depth_cfg: Any) -> str:
    name = str(getattr(depth_cfg, "name", "depth"))
    which = str(getattr(depth_cfg, "model", None) or getattr(depth_cfg, "size", "") or "")
    raw = f"{name}-{which}"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", raw)[:60]
    return f"{slug}-{hashlib.sha1(raw.encode()).hexdigest()[:8]}"


def _image_key(image: str) -> str:
    path = Path(image).resolve()
    st = path.stat()
    return hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


class DepthSource:
    """Gives items without a depth map one computed by the depth group (cached on disk)."""

    def __init__(self, depth_cfg: Any, cache_dir: str | Path) -> None:
        self.cfg = depth_cfg
        self.root = Path(cache_dir).expanduser().resolve() / "depth" / _provider_key(depth_cfg)
        self._provider: Any = None

    @property
    def provider(self) -> Any:
        if self._provider is None:
            from sif.depth import build_depth_provider

            self._provider = build_depth_provider(self.cfg)
        return self._provider

    def cached_path(self, image: str) -> Path:
        return self.root / f"{_image_key(image)}.npy"

    def compute(self, images: Sequence[str], progress: Optional[Callable[[int], None]] = None) -> list[str]:
        """The depth .npy of every image (computed in batches of depth.batch_size when not cached)."""
        from sif.data.images import open_rgb
        from sif.depth import save_depth

        paths = [self.cached_path(im) for im in images]
        todo = [i for i, p in enumerate(paths) if not p.is_file()]
        if todo and str(getattr(self.cfg, "name", "")) == "ground_truth":
            raise MissingDepthError(
                f"{len(todo)} item(s) have no depth map (e.g. {images[todo[0]]}) and depth=ground_truth exists only "
                "for synthetic scenes: use depth=depth_anything_v2 (computes maps, cached) or "
                "benchmark.depth_root=<folder of precomputed .npy maps>")
        size = max(1, int(getattr(self.cfg, "batch_size", 8)))
        for start in range(0, len(todo), size):
            chunk = todo[start:start + size]
            maps = self.provider.predict([open_rgb(images[i]) for i in chunk])
            for i, arr in zip(chunk, maps):
                save_depth(arr, paths[i], paths[i].with_suffix(".png"))
            if progress is not None:
                progress(len(chunk))
        return [str(p) for p in paths]

    def fill(self, items: Sequence[Any]) -> int:
        """Set `depth` on items that have none; returns how many were filled."""
        missing = [it for it in items if not getattr(it, "depth", None)]
        if not missing:
            return 0
        log.info("computing depth for %d items with depth=%s (cached in %s)", len(missing), self.cfg.name, self.root)
        for it, path in zip(missing, self.compute([it.image for it in missing])):
            it.depth = path
        return len(missing)


def request_for(item: Any, with_depth: bool = True, blank: bool = False, style: str = "sif") -> GenRequest:
    """The backend request of a benchmark item (its depth must be set when `with_depth`); `blank`: the blind
    control's mid-grey pictures of the same sizes (sif.views)."""
    images: list[Any] = [item.image]
    if with_depth:
        if not item.depth:
            raise MissingDepthError(f"item {item.id!r} has no depth map")
        images.append(depth_image(item.depth))
    if blank:
        images = blanked(images)
    return GenRequest(id=str(item.id), question=item.question, choices=item.choices, images=images, prompt_style=style)
