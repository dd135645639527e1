"""Depth: `DepthMap` (O(1) box means from an integral image), normalisation, the colour picture,
storage, and the registered depth providers (the home package of `sif.registry.DEPTH_PROVIDERS`)."""

from sif.autoload import import_submodules
from sif.depth.map import (DepthMap, colorize, load_depth_map, normalize_depth, normalize_disparity,
                           save_depth, spectral_palette)
from sif.depth.providers import (HUB_IDS, DepthAnythingV2Provider, DepthProvider, GroundTruthDepthProvider,
                                 build_depth_provider)
from sif.depth.tiny import build_tiny_depth_anything

import_submodules(__name__, __path__)

__all__ = [
    "DepthMap", "colorize", "load_depth_map", "normalize_depth", "normalize_disparity", "save_depth",
    "spectral_palette", "HUB_IDS", "DepthProvider", "DepthAnythingV2Provider", "GroundTruthDepthProvider",
    "build_depth_provider", "build_tiny_depth_anything",
]
