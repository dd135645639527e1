"""`depth_consistency` (0..1): the share of stated (box, depth) pairs that agree with the depth map.

For every focus the map's mean depth m over the box (`DepthMap.box_mean`, O(1)) is compared with the
stated depth p. The map is the sample's `depth` column (a .npy path), loaded once per image (LRU cache).

* paper_compat (spec §3.6 (4)): the original's `extract_area_content`/`extract_depth_content` over the
  whole text; n = number of depth entries over all areas, where an area whose JSON fails counts 1; a
  pair scores when |m - p| / m <= tolerance (`reward.depth_tolerance`, 0.1); any error for a pair
  (malformed box, box with no pixel, m = 0 division, missing box for a depth) skips it (it still counts
  in n). Depth entry j of an area is paired with box j of the same area. m is the np.mean over the
  original's floor/ceil window of the map as the original read it back from the colour PNG (8-bit levels).
* fixed (default): the foci inside <think> as `sif.chain.parse_chain` reads them. A pair scores when
  |m - p| <= max(tolerance * m, reward.depth_abs_floor): the absolute floor keeps near-camera regions
  (m close to 0, where 10 % is a hair) reachable and removes the m = 0 division. A box that is not
  inside [0, 1] with x2 > x1, y2 > y1, or a depth outside [0, 1], is a miss; an area without usable
  foci (malformed JSON, or an empty list) counts as one miss, so broken areas never raise the share.

No pairs at all, or a missing/unreadable depth map, gives 0.
"""

from __future__ import annotations

import math
from typing import Any

from sif.rewards.suite import RewardCall, RewardSuite, register_reward


def _valid_box(b: Any) -> bool:
    x1, y1, x2, y2 = b
    return all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in b) and x2 > x1 and y2 > y1


def fixed_share(suite: RewardSuite, text: str, dmap: Any) -> float:
    parsed = suite.parse(text)
    tol, floor = suite.settings.depth_tolerance, suite.settings.depth_abs_floor
    hits = total = 0
    for foci in parsed.areas:
        if not foci:
            total += 1
            continue
        for f in foci:
            total += 1
            p = f.depth
            if not (_valid_box(f.bbox) and math.isfinite(p) and 0.0 <= p <= 1.0):
                continue
            try:
                m = dmap.box_mean(f.bbox)
            except (ValueError, TypeError):
                continue
            if abs(m - p) <= max(tol * abs(m), floor):
                hits += 1
    return hits / total if total else 0.0


def paper_share(suite: RewardSuite, text: str, dmap: Any) -> float:
    from sif.rewards.boxes import paper_areas

    boxes = paper_areas(suite, text, "bbox_2d")
    depths = paper_areas(suite, text, "depth")
    n = sum(len(d) for d in depths)
    if n == 0:
        return 0.0
    tol = suite.settings.depth_tolerance
    score = 0.0
    for i, area_boxes in enumerate(boxes):  # the original's loop: box j of area i with depth j of area i
        for j, box in enumerate(area_boxes):
            try:
                if not isinstance(box, (list, tuple)) or not all(isinstance(v, (int, float)) for v in box):
                    continue  # where the original's `x1 * w` / math.floor raised (strings, lists, dicts, None)
                m = paper_box_mean(dmap, box)
                p = depths[i][j]
                if abs(m - p) / m <= tol:  # bools count as numbers, as in the original (True == 1)
                    score += 1.0 / n
            except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError):
                continue
    return score if math.isfinite(score) else 0.0


def paper_box_mean(dmap: Any, box: Any) -> float:
    """The original's calculate_avg_depth: np.mean over the floor/ceil pixel window of the map as it read it
    (`DepthMap.original_array`: the 8-bit level of the colour PNG), not the integral image of the exact map."""
    import numpy as np

    x1p, y1p, x2p, y2p = dmap.pixel_bounds(box)
    return float(np.mean(dmap.original_array[y1p:y2p, x1p:x2p]))


@register_reward("depth_consistency", lo=0.0, hi=1.0)
def depth_consistency_reward(suite: RewardSuite, call: RewardCall) -> list[float]:
    """Share of (box, depth) pairs within tolerance of the depth map's box mean."""
    out = []
    for i, text in enumerate(call.texts):
        dmap = suite.depth_map(call.cols.get("depth", i))
        if dmap is None:
            out.append(0.0)
            continue
        try:
            out.append(paper_share(suite, text, dmap) if suite.paper_compat else fixed_share(suite, text, dmap))
        except Exception:  # noqa: BLE001
            suite.count("errors/depth_consistency_row")
            out.append(0.0)
    return out
