"""The `zoom` config node -> the engine's settings (the one reader of that node)."""

from __future__ import annotations

from typing import Any

from sif.zoom.crop import ZoomSettings
from sif.zoom.rollout import ZoomRolloutSettings


def crop_settings(zoom_cfg: Any) -> ZoomSettings:
    if zoom_cfg is None:
        return ZoomSettings()
    return ZoomSettings(mode=str(zoom_cfg.mode), margin=float(zoom_cfg.margin), min_size=int(zoom_cfg.min_size),
                        max_pixels=int(zoom_cfg.max_pixels), max_crops=int(zoom_cfg.max_crops),
                        outside=str(zoom_cfg.outside))


def rollout_settings(zoom_cfg: Any, max_new_tokens: int = 256) -> ZoomRolloutSettings:
    """Crop rules, zoom budget and depth crops; `max_new_tokens` is set by the caller's own budget."""
    if zoom_cfg is None:
        return ZoomRolloutSettings(max_new_tokens=max_new_tokens)
    return ZoomRolloutSettings(crop=crop_settings(zoom_cfg), max_zooms=int(zoom_cfg.max_zooms),
                               max_new_tokens=max_new_tokens, with_depth=bool(zoom_cfg.with_depth),
                               fast=bool(zoom_cfg.get("fast", False)))
