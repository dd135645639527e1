"""Images as data URLs for chat messages, labelled with their real MIME type (spec bug 21: the original
always wrote image/jpeg)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

# formats every OpenAI-compatible vision endpoint accepts, by Pillow format name
_SENDABLE = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


def sniff_mime(data: bytes) -> str | None:
    """MIME type from the magic bytes (png, jpeg, webp, gif), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _encode(img: Any, fmt: str) -> tuple[str, bytes]:
    """Encode a PIL image as `fmt` if sendable (else PNG); returns (mime, bytes)."""
    fmt = fmt if fmt in _SENDABLE and fmt != "GIF" else "PNG"
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    elif fmt in ("PNG", "WEBP") and img.mode not in ("RGB", "RGBA", "L", "LA", "P", "I;16", "I"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    buf = io.BytesIO()
    save_kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    img.save(buf, format=fmt, **save_kwargs)
    return _SENDABLE[fmt], buf.getvalue()


def image_to_data_url(path_or_pil: str | os.PathLike | Any, max_side: int | None = None) -> str:
    """A `data:<mime>;base64,...` URL for an image file or a PIL image.

    A file in a sendable format (png/jpeg/webp/gif, judged by content, not by name) that needs no resizing
    is sent byte for byte. Otherwise the image is decoded, shrunk so that its longer side is at most
    `max_side` (aspect kept), and re-encoded in its own format when sendable, else as PNG.
    """
    from PIL import Image

    if isinstance(path_or_pil, (str, os.PathLike)):
        data = Path(path_or_pil).read_bytes()
        mime = sniff_mime(data)
        if mime is not None and max_side is None:
            return _data_url(mime, data)
        with Image.open(io.BytesIO(data)) as opened:
            fmt = opened.format or "PNG"
            if mime is not None and max_side is not None and max(opened.size) <= max_side:
                return _data_url(mime, data)
            opened.load()
            img = opened.copy()
    else:
        img = path_or_pil
        fmt = getattr(img, "format", None) or "PNG"
    if max_side is not None and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((int(max_side), int(max_side)), Image.Resampling.LANCZOS)
    mime, data = _encode(img, fmt)
    return _data_url(mime, data)
