"""What the model is shown (sif.views): the one reading of image_inputs, and the blind control's pictures."""

from __future__ import annotations

import pytest
from PIL import Image

from sif.views import BLANK_GREY, blanked, view_of


def test_each_value_and_a_typo():
    assert view_of("rgb+depth") == view_of("rgb+depth", "backend.image_inputs")
    assert (view_of("rgb+depth").with_depth, view_of("rgb+depth").blank) == (True, False)
    assert (view_of("rgb").with_depth, view_of("rgb").blank) == (False, False)
    assert (view_of("blank").with_depth, view_of("blank").blank) == (True, True)   # the same two-picture layout
    with pytest.raises(ValueError, match=r"backend.image_inputs='depth'"):
        view_of("depth", "backend.image_inputs")


def test_blanked_pictures_keep_their_sizes_and_lose_everything_else(tmp_path):
    rgb = Image.new("RGB", (160, 120), (200, 10, 10))
    path = tmp_path / "x.png"
    Image.new("RGB", (32, 48), (0, 255, 0)).save(path)
    out = blanked([rgb, str(path)])
    assert [p.size for p in out] == [(160, 120), (32, 48)]
    assert all(set(p.getdata()) == {BLANK_GREY} for p in out)
    with pytest.raises(Exception):
        blanked([str(tmp_path / "missing.png")])
