"""Depth maps: the O(1) box mean, normalisation, the colour picture, and storage.

Why not the original's colour PNG round trip: SIFThinker stored depth as a Spectral_r picture and
recovered it per reward call with a KD-tree over the 256-entry palette (1 - i/255). That quantises to
8 bits, costs a nearest-neighbour query per pixel per call, and is only as exact as the palette is
injective. We keep the float map itself (float16 .npy, 0 = nearest, 1 = farthest) and serve a box's
mean from a float64 integral image built once per map: four lookups per box (`box_means` does a whole
batch in one numpy call), exact to float rounding. benchmarks/depth_box_mean.py measures both ways.
The colour picture is still written (for people and as the model's second image), with the original's
mapping: near = red, far = blue.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from sif.io import atomic_path, save_npy

COLORMAP = "Spectral_r"


class DepthMap:
    """A per-image relative depth map (HxW, 0 nearest .. 1 farthest) with O(1) box means."""

    def __init__(self, depth: np.ndarray) -> None:
        arr = np.asarray(depth)
        if arr.ndim != 2:
            raise ValueError(f"depth map must be 2-D (HxW), got shape {arr.shape}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"depth map is empty (shape {arr.shape})")
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise ValueError(f"depth map must be real numbers, got dtype {arr.dtype}")
        if not np.isfinite(arr).all():
            bad = int(np.size(arr) - np.isfinite(arr).sum())
            raise ValueError(f"depth map has {bad} non-finite values (NaN or inf)")
        self._array = arr.astype(np.float32)
        self._array.setflags(write=False)
        self._h, self._w = (int(n) for n in arr.shape)
        # integral[r, c] = sum of depth[:r, :c] in float64 (exact enough for any image size).
        integral = np.zeros((arr.shape[0] + 1, arr.shape[1] + 1), dtype=np.float64)
        np.cumsum(np.cumsum(self._array, axis=0, dtype=np.float64), axis=1, out=integral[1:, 1:])
        integral.setflags(write=False)
        self._integral = integral

    @classmethod
    def load(cls, path: str | os.PathLike, image_size: Optional[tuple[int, int]] = None) -> "DepthMap":
        """Read a depth .npy (float16 as we write it; any real dtype is accepted), never unpickling.

        `image_size` (width, height): the map must fit that image by the rule of `check_depth_size`.
        Every problem (unreadable, truncated, pickled, NaN/inf, wrong shape) is a ValueError naming the file."""
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:  # object arrays need pickle, truncated data: refuse, naming the file
            raise ValueError(f"{path}: not a plain numeric .npy depth map ({exc})") from None
        except EOFError as exc:  # an empty file (a missing one stays FileNotFoundError)
            raise ValueError(f"{path}: unreadable .npy depth map ({exc.__class__.__name__}: {exc})") from None
        try:
            dmap = cls(arr)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        if image_size is not None:
            check_depth_size((dmap.height, dmap.width), image_size, path)
        return dmap

    @property
    def height(self) -> int:
        return self._h

    @property
    def width(self) -> int:
        return self._w

    @property
    def array(self) -> np.ndarray:
        """The float32 map (read-only)."""
        return self._array

    @property
    def original_array(self) -> np.ndarray:
        """The map as the original's depth reward read it back from the colour PNG: 1 - level / 255 of the
        8-bit level it was drawn with (`depth_to_levels`; its KD-tree colour inversion recovers exactly that
        level from our palette PNGs). Computed once; paper mode's depth reward uses it."""
        cached = getattr(self, "_original", None)
        if cached is None:
            cached = (1.0 - depth_to_levels(self._array).astype(np.float32) / 255.0).astype(np.float32)
            cached.setflags(write=False)
            self._original = cached
        return cached

    def pixel_bounds(self, box: Sequence[float]) -> tuple[int, int, int, int]:
        """(x1p, y1p, x2p, y2p) exactly as the original calculate_avg_depth; ValueError when empty."""
        try:
            x1, y1, x2, y2 = box
            w, h = self._w, self._h
            x1p, y1p = math.floor(x1 * w), math.floor(y1 * h)
            x2p, y2p = math.ceil(x2 * w), math.ceil(y2 * h)
        except (TypeError, ValueError, OverflowError):  # wrong length, not numbers, NaN or inf
            raise ValueError(f"box must be 4 finite numbers [x1, y1, x2, y2], got {box!r}") from None
        x1p = 0 if x1p < 0 else (w - 1 if x1p > w - 1 else x1p)
        y1p = 0 if y1p < 0 else (h - 1 if y1p > h - 1 else y1p)
        x2p = 0 if x2p < 0 else (w if x2p > w else x2p)
        y2p = 0 if y2p < 0 else (h if y2p > h else y2p)
        if x2p <= x1p or y2p <= y1p:
            raise ValueError(f"box {list(box)} covers no pixel of a {w}x{h} depth map")
        return x1p, y1p, x2p, y2p

    def box_mean(self, box: Sequence[float]) -> float:
        """Mean depth over a normalised box [x1, y1, x2, y2] in O(1): four integral-image lookups."""
        x1p, y1p, x2p, y2p = self.pixel_bounds(box)
        get = self._integral.item
        total = get(y2p, x2p) - get(y1p, x2p) - get(y2p, x1p) + get(y1p, x1p)
        return total / ((x2p - x1p) * (y2p - y1p))

    def box_means(self, boxes: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """`box_mean` of many boxes at once (N x 4 -> N float64), vectorised; ValueError names the first bad box."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        bad = ~np.isfinite(b).all(axis=1)
        if bad.any():
            raise ValueError(f"box {int(np.argmax(bad))} has a non-finite coordinate: {b[np.argmax(bad)].tolist()}")
        w, h = self._w, self._h
        x1 = np.clip(np.floor(b[:, 0] * w), 0, w - 1).astype(np.intp)
        y1 = np.clip(np.floor(b[:, 1] * h), 0, h - 1).astype(np.intp)
        x2 = np.clip(np.ceil(b[:, 2] * w), 0, w).astype(np.intp)
        y2 = np.clip(np.ceil(b[:, 3] * h), 0, h).astype(np.intp)
        empty = (x2 <= x1) | (y2 <= y1)
        if empty.any():
            i = int(np.argmax(empty))
            raise ValueError(f"box {i} {b[i].tolist()} covers no pixel of a {w}x{h} depth map")
        s = self._integral
        return (s[y2, x2] - s[y1, x2] - s[y2, x1] + s[y1, x1]) / ((x2 - x1) * (y2 - y1))

    def __repr__(self) -> str:
        return f"DepthMap({self.width}x{self.height})"


# The size rule. Boxes are normalised per axis, so a box mean reads the same region of the scene at any map
# resolution: a map with the image's aspect ratio is used as it is (a map computed at another resolution,
# e.g. a depth model's output before resizing, is read as if resized to the image). A map whose aspect ratio
# differs by more than DEPTH_ASPECT_TOLERANCE (relative) is refused: it belongs to another image, or is
# transposed or cropped.
DEPTH_ASPECT_TOLERANCE = 0.02


class DepthSizeError(ValueError):
    """A depth map that does not fit its image (see `check_depth_size`)."""


def check_depth_size(depth_hw: Sequence[int], image_wh: Sequence[int], path: str | os.PathLike | None = None) -> str:
    """"exact" (same size) or "scaled" (same aspect ratio within DEPTH_ASPECT_TOLERANCE; used as it is); any
    other map raises DepthSizeError naming both sizes (and the file)."""
    dh, dw = (int(v) for v in depth_hw)
    iw, ih = (int(v) for v in image_wh)
    if min(dh, dw, iw, ih) <= 0:
        raise DepthSizeError(f"{path or 'depth map'}: empty size (depth {dw}x{dh}, image {iw}x{ih})")
    if (dh, dw) == (ih, iw):
        return "exact"
    ratio_d, ratio_i = dw / dh, iw / ih
    if abs(ratio_d - ratio_i) <= DEPTH_ASPECT_TOLERANCE * ratio_i:
        return "scaled"
    where = f"{path}: " if path is not None else ""
    raise DepthSizeError(f"{where}depth map is {dw}x{dh} (WxH) but the image is {iw}x{ih}: a different aspect "
                         f"ratio ({ratio_d:.3f} vs {ratio_i:.3f}), so the map does not belong to this image")


def read_depth_shape(path: str | os.PathLike) -> tuple[int, ...]:
    """The shape in a .npy header, without reading the data (never unpickling); ValueError if unreadable."""
    try:
        with open(path, "rb") as fh:
            fmt = np.lib.format
            version = fmt.read_magic(fh)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _order, dtype = read(fh)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: unreadable .npy header ({exc.__class__.__name__})") from None
    if dtype.hasobject:
        raise ValueError(f"{path}: object arrays need pickle; refused")
    return tuple(int(v) for v in shape)


@lru_cache(maxsize=256)
def _load_cached(path: str, mtime_ns: int, size: int) -> DepthMap:
    return DepthMap.load(path)


def load_depth_map(path: str | os.PathLike) -> DepthMap:
    """DepthMap.load behind an LRU cache keyed by (absolute path, mtime, size): a rewritten file is re-read."""
    abspath = os.path.abspath(path)
    st = os.stat(abspath)
    return _load_cached(abspath, st.st_mtime_ns, st.st_size)


def _minmax(arr: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{what} must be 2-D (HxW), got shape {a.shape}")
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError(f"{what} must be non-empty and finite")
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.float32)
    return ((a - lo) / (hi - lo)).astype(np.float32)


def normalize_depth(metric: np.ndarray) -> np.ndarray:
    """Metric depth (larger = farther) -> per-image 0..1, 0 nearest; a constant map gives zeros."""
    return _minmax(metric, "metric depth")


def normalize_disparity(disp: np.ndarray) -> np.ndarray:
    """Depth Anything V2 relative output (disparity-like, larger = closer) -> 1 - minmax: 0 nearest.

    This is exactly what SIFThinker's PNG encodes (1 - normalised disparity), without the 8-bit step.
    A constant map gives zeros.
    """
    out = _minmax(disp, "disparity")
    if out.max() > 0:
        out = (1.0 - out).astype(np.float32)
    return out


@lru_cache(maxsize=1)
def spectral_palette() -> np.ndarray:
    """The 256 x 3 uint8 RGB palette of Spectral_r, built as the original did (cmap(i/255)*255 -> uint8)."""
    import matplotlib

    cmap = matplotlib.colormaps[COLORMAP]
    pal = (cmap(np.arange(256) / 255.0)[:, :3] * 255).astype(np.uint8)
    pal.setflags(write=False)
    return pal


def depth_to_levels(depth: np.ndarray) -> np.ndarray:
    """The original's 8-bit level per pixel: floor((1 - depth) * 255) (it truncated normalised disparity)."""
    d = np.asarray(depth, dtype=np.float64)
    if not np.isfinite(d).all():
        raise ValueError("depth map has non-finite values")
    return np.clip((1.0 - d) * 255.0, 0, 255).astype(np.uint8)


def colorize(depth: np.ndarray) -> Image.Image:
    """RGB picture of a 0..1 depth map as SIFThinker drew it: Spectral_r of the 8-bit level (1 - depth)*255.

    Near (depth 0, level 255) is red, far (depth 1, level 0) is blue. Values outside 0..1 are clipped.
    """
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth map must be 2-D (HxW), got shape {d.shape}")
    return Image.fromarray(spectral_palette()[depth_to_levels(d)], "RGB")


def colorize_indexed(depth: np.ndarray) -> Image.Image:
    """`colorize` as a palette ('P') image: the 8-bit levels with Spectral_r as the palette. Its
    `.convert("RGB")` is exactly `colorize(depth)`; as a PNG it encodes one byte per pixel instead of three
    (the depth writers' main cost) and reads back as the same colours."""
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth map must be 2-D (HxW), got shape {d.shape}")
    img = Image.fromarray(depth_to_levels(d), "P")
    img.putpalette(spectral_palette().tobytes(), rawmode="RGB")
    return img


def save_depth(depth: np.ndarray, npy_path: str | os.PathLike, png_path: Optional[str | os.PathLike] = None) -> None:
    """Write the map as float16 .npy and (optionally) its colour PNG, each atomically."""
    arr = np.asarray(depth)
    if arr.ndim != 2 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(f"refusing to save {npy_path}: depth must be a non-empty finite HxW map "
                         f"(shape {arr.shape})")
    arr = arr.astype(np.float16)
    save_npy(npy_path, arr)
    if png_path is not None:
        with atomic_path(Path(png_path)) as tmp:
            colorize_indexed(arr.astype(np.float32)).save(tmp, format="PNG", compress_level=1)
