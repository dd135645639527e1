"""image_to_data_url: the MIME type follows the content (spec bug 21), resizing keeps format and aspect."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from sif.llm.images import image_to_data_url, sniff_mime


def decode(url: str) -> tuple[str, bytes]:
    head, b64 = url.split(",", 1)
    assert head.startswith("data:") and head.endswith(";base64")
    return head[5:-7], base64.b64decode(b64)


def picture(size=(64, 48), mode="RGB") -> Image.Image:
    img = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128))
    img.putpixel((1, 1), (0, 0, 255) if mode == "RGB" else (0, 0, 255, 255))
    return img


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"),
                                       ("GIF", "image/gif")])
def test_file_mime_follows_content_not_name(tmp_path, fmt, mime):
    path = tmp_path / "misnamed.jpg"  # the extension lies on purpose
    picture().save(path, format=fmt)
    got_mime, data = decode(image_to_data_url(path))
    assert got_mime == mime and sniff_mime(data) == mime
    assert data == path.read_bytes()  # sent byte for byte


def test_unsendable_format_is_reencoded_as_png(tmp_path):
    path = tmp_path / "pic.bmp"
    picture().save(path, format="BMP")
    mime, data = decode(image_to_data_url(str(path)))
    assert mime == "image/png" and Image.open(io.BytesIO(data)).size == (64, 48)


@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_max_side_shrinks_and_keeps_format_and_aspect(tmp_path, fmt, mime):
    path = tmp_path / "big"
    picture((400, 200)).save(path, format=fmt)
    got_mime, data = decode(image_to_data_url(path, max_side=100))
    img = Image.open(io.BytesIO(data))
    assert got_mime == mime and img.format == fmt and img.size == (100, 50)


def test_small_image_under_max_side_is_sent_unchanged(tmp_path):
    path = tmp_path / "small.png"
    picture((40, 30)).save(path)
    assert decode(image_to_data_url(path, max_side=100))[1] == path.read_bytes()


def test_pil_images(tmp_path):
    mime, data = decode(image_to_data_url(picture(mode="RGBA")))
    assert mime == "image/png" and Image.open(io.BytesIO(data)).mode == "RGBA"
    path = tmp_path / "a.jpg"
    picture((300, 300)).save(path, format="JPEG")
    with Image.open(path) as opened:  # a PIL image that knows it came from a JPEG
        mime, data = decode(image_to_data_url(opened, max_side=30))
    assert mime == "image/jpeg" and Image.open(io.BytesIO(data)).size == (30, 30)


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        image_to_data_url(tmp_path / "nope.png")


def test_sniff_mime_unknown():
    assert sniff_mime(b"") is None and sniff_mime(b"BM....") is None and sniff_mime(b"RIFF\0\0\0\0WAVE") is None
