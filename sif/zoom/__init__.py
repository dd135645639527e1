"""Active zoom: each focus area crops the picture and the crop is shown to the model (issue 17)."""

from sif.zoom.crop import Crop, ZoomSettings, crop_rect, zoom

__all__ = ["Crop", "ZoomSettings", "crop_rect", "zoom"]
