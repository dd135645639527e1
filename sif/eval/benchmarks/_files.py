"""Reading benchmark release files: JSON / JSONL / parquet records, image paths and embedded image bytes.

Every problem is a `SampleError` naming the file, record (line or index) and field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from PIL import Image, UnidentifiedImageError

from sif.data.paths import PathEscapeError, resolve_under
from sif.data.records import object_records
from sif.data.schema import SampleError
from sif.io import write_bytes


def read_records(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line or 1-based index, record) from a JSON array, a JSONL file or a parquet file (sif.data.records);
    a benchmark release is trusted to be whole, so its first bad record stops the run, named."""
    for line, rec in object_records(path):
        if isinstance(rec, SampleError):
            raise rec
        yield line, rec


def need(rec: dict, name: str, kind: type | tuple[type, ...], path: str | Path, line: int) -> Any:
    """rec[name], checked to exist and be of `kind`."""
    if name not in rec or rec[name] is None:
        raise SampleError("missing", str(path), line, name)
    value = rec[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise SampleError(f"expected {want}, got {type(value).__name__}", str(path), line, name)
    return value


def resolve_image(root: str | Path | None, rel: str, path: str | Path, line: int, field: str = "image") -> str:
    """An existing image file for `rel` under `root` (no escapes), as an absolute path string."""
    if not isinstance(rel, str) or not rel:
        raise SampleError("expected an image path", str(path), line, field)
    try:
        resolved = resolve_under(root, rel)
    except PathEscapeError as exc:
        raise SampleError(str(exc), str(path), line, field) from None
    if not resolved.is_file():
        raise SampleError(f"image missing: {resolved}", str(path), line, field)
    return str(resolved)


def depth_for(depth_root: Optional[str], image: str, image_root: Optional[str]) -> Optional[str]:
    """The precomputed depth map of `image`: `<depth_root>/<image path relative to image_root>.npy`, else
    `<depth_root>/<image stem>.npy`; None when there is no depth root or no such file."""
    if not depth_root:
        return None
    root, img = Path(depth_root), Path(image)
    candidates = []
    if image_root:
        try:
            candidates.append(root / img.relative_to(Path(image_root).resolve()).with_suffix(".npy"))
        except ValueError:
            pass
    candidates.append(root / (img.stem + ".npy"))
    for cand in candidates:
        if cand.is_file():
            return str(cand)
    return None


def default_cache_dir() -> Path:
    return Path(os.environ.get("SIF_CACHE_DIR", ".cache/sif")) / "benchmark-images"


def image_bytes(value: Any, path: str | Path, line: int, field: str) -> bytes:
    """Embedded image data: raw bytes, a base64 string, or a {"bytes": ...} dict (HF Image feature)."""
    if isinstance(value, dict):
        value = value.get("bytes")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        text = value.split(",", 1)[1] if value.startswith("data:") else value
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SampleError("expected base64 image data", str(path), line, field) from None
    raise SampleError(f"expected image bytes, got {type(value).__name__}", str(path), line, field)


def materialize(data: bytes, cache_dir: Path, path: str | Path, line: int, field: str) -> str:
    """Write embedded image bytes once, content-addressed, and return the file's path. The bytes are
    decoded first so a corrupt image fails here, naming the record, not later in the backend."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            fmt = (im.format or "png").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise SampleError("embedded image cannot be decoded", str(path), line, field) from None
    ext = {"jpeg": "jpg"}.get(fmt, fmt)
    out = cache_dir / f"{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
    if not out.is_file():
        write_bytes(out, data)
    return str(out.resolve())
