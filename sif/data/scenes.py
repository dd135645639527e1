"""Seeded synthetic CLEVR-like scenes with exact depth, visible boxes and unambiguous questions.

Why a renderer of our own: the embedded default runs offline on a laptop CPU, and the rewards need ground
truth a photo cannot give. Pure numpy: each pixel's ray (pinhole camera) is intersected analytically with
spheres, yaw-rotated cubes and vertical cylinders on a ground plane; the nearest hit wins (a z-buffer), so
depth and occlusion are exact. Lambert + Blinn-Phong shading and soft shadows make it read as 3-D.

Conventions (documented once, relied on by the generator, the rewards and the tests):
- World: x right, y away from the camera, z up; the ground is z = 0. `SceneObject.position` is the
  object's centre in world units.
- `Scene.metric_depth` is the exact z-depth (distance along the optical axis) of every pixel.
- `Scene.depth` is that map min-max normalised over the WHOLE image, ground included: 0 = nearest,
  1 = farthest (SIFThinker's convention). The camera looks down steeply enough that every ray meets
  the ground, so there is no sky; a ray that missed would get the far value (background = far).
- `SceneObject.box` is the exact box of the object's VISIBLE pixels, normalised per axis:
  [min_col / W, min_row / H, (max_col + 1) / W, (max_row + 1) / H].
- `SceneObject.mean_depth` is the mean of `Scene.depth` over the object's visible pixels.
- A scene depends only on (index, seed, params): its generator is `np.random.default_rng([seed, index])`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]

SHAPES = ("sphere", "cube", "cylinder")
PLURALS = {"sphere": "spheres", "cube": "cubes", "cylinder": "cylinders"}
COLORS: dict[str, tuple[int, int, int]] = {  # CLEVR's palette
    "gray": (87, 87, 87), "red": (173, 35, 35), "blue": (42, 75, 215), "green": (29, 105, 20),
    "brown": (129, 74, 25), "purple": (129, 38, 192), "cyan": (41, 208, 208), "yellow": (255, 238, 51),
}
SIZES = {"small": 0.35, "large": 0.7}  # radius (half-side for cubes is 0.8x)
QUESTION_TYPES = ("relative_depth", "left_right", "counting", "attribute")
DEPTH_INFO_KEY = "sif_depth"  # Scene.image() carries the exact depth here for the ground_truth provider

# Camera: pitch down, vertical field of view, distance to the look-at point (the world origin).
PITCH_DEG, VFOV_DEG, CAMERA_DISTANCE = 42.0, 40.0, 10.0
LIGHT = np.array([-0.45, -0.6, 0.9]) / np.linalg.norm([-0.45, -0.6, 0.9])  # towards the light
GROUND_RGB = np.array([168.0, 165.0, 158.0])
# Ambiguity guards: a referenced relation must hold by these margins, or the layout is redrawn.
DEPTH_MARGIN = 0.5  # world units along the optical axis between object centres
NORM_DEPTH_MARGIN = 0.02  # normalised depth between visible-pixel means and between box means
X_MARGIN = 0.06  # normalised image x between box centres
MAX_ATTEMPTS = 500


@dataclass
class SceneParams:
    width: int = 320
    height: int = 240
    min_objects: int = 2
    max_objects: int = 5
    mc_fraction: float = 0.5
    question_types: tuple[str, ...] = QUESTION_TYPES
    min_visible_pixels: int = 60  # every object must show at least this many pixels ...
    min_visible_fraction: float = 0.35  # ... and this share of its unoccluded silhouette
    object_scale: float = 1.0  # object sizes x this (0.2 at 1280x960 gives ~10-25 px objects: synth_hires)

    def validate(self) -> None:
        qt, pair_types = list(self.question_types), sorted({"relative_depth", "left_right"} & set(self.question_types))
        checks = [
            (self.width >= 32 and self.height >= 32, f"image size {self.width}x{self.height} is below 32x32"),
            (1 <= self.min_objects <= self.max_objects <= 10,
             f"need 1 <= min_objects ({self.min_objects}) <= max_objects ({self.max_objects}) <= 10"),
            (0.0 <= self.mc_fraction <= 1.0, f"mc_fraction {self.mc_fraction} is outside [0, 1]"),
            (0.05 <= self.object_scale <= 2.0, f"object_scale {self.object_scale} is outside [0.05, 2]"),
            (bool(qt) and set(qt) <= set(QUESTION_TYPES),
             f"question_types {qt} must be a non-empty subset of {list(QUESTION_TYPES)}"),
            (not pair_types or self.max_objects >= 2, f"question types {pair_types} need max_objects >= 2"),
        ]
        problems = [msg for ok, msg in checks if not ok]
        if problems:
            raise ValueError("bad SceneParams: " + "; ".join(problems))


@dataclass
class SceneObject:
    shape: str
    color: str
    size: str
    position: tuple[float, float, float]
    box: Box
    mean_depth: float
    visible_pixels: int
    yaw: float = 0.0  # radians (cubes)
    camera_z: float = 0.0  # z-depth of the centre, world units

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass
class Question:
    qtype: str
    question: str
    answer: str  # the letter for multiple choice, else the word/number
    answer_text: str  # always the word/number
    choices: Optional[list[str]]
    boxes: list[Box]
    objects: list[int]


@dataclass
class Scene:
    index: int
    seed: int
    rgb: np.ndarray  # HxWx3 uint8
    depth: np.ndarray  # HxW float32, 0 nearest .. 1 farthest
    objects: list[SceneObject]
    questions: list[Question]
    metric_depth: Optional[np.ndarray] = None  # HxW float32 z-depth, world units
    mask: Optional[np.ndarray] = None  # HxW int16 object index, -1 for ground
    params: Optional[SceneParams] = None  # what it was rendered with (question_for's defaults)

    def image(self) -> Image.Image:
        """The RGB picture; `info[DEPTH_INFO_KEY]` carries the exact depth for the ground_truth provider."""
        img = Image.fromarray(self.rgb, "RGB")
        img.info[DEPTH_INFO_KEY] = self.depth
        return img


@dataclass(frozen=True)
class _Camera:
    position: np.ndarray
    forward: np.ndarray
    right: np.ndarray
    up: np.ndarray
    f: float  # focal length in pixels (square pixels); the principal point is the image centre
    cx: float
    cy: float
    rays: tuple[np.ndarray, np.ndarray, np.ndarray]  # per-pixel direction with d . forward = 1
    ground_z: np.ndarray  # z-depth of the ground at every pixel
    ground_xy: tuple[np.ndarray, np.ndarray]  # where each pixel's ray meets the ground
    ground_rgb: np.ndarray  # shaded ground, uint8 HxWx3

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Continuous image coordinates (x, y; pixel c covers [c, c+1)) and z-depth of world points."""
        v = pts - self.position
        z = v @ self.forward
        return self.cx + self.f * (v @ self.right) / z, self.cy - self.f * (v @ self.up) / z, z


@lru_cache(maxsize=8)
def _camera(width: int, height: int) -> _Camera:
    pitch = math.radians(PITCH_DEG)
    pos = np.array([0.0, -CAMERA_DISTANCE * math.cos(pitch), CAMERA_DISTANCE * math.sin(pitch)])
    fwd = -pos / np.linalg.norm(pos)
    right = np.cross(fwd, [0.0, 0.0, 1.0]) / np.linalg.norm(np.cross(fwd, [0.0, 0.0, 1.0]))
    up = np.cross(right, fwd)
    f = (height / 2) / math.tan(math.radians(VFOV_DEG) / 2)
    cx, cy = width / 2, height / 2
    u, v = (np.arange(width) + 0.5 - cx) / f, (np.arange(height) + 0.5 - cy) / f
    rays = tuple(np.ascontiguousarray(fwd[k] + u[None, :] * right[k] - v[:, None] * up[k]) for k in range(3))
    if rays[2].max() >= 0:
        raise ValueError("camera sees the horizon; every ray must meet the ground")
    t = -pos[2] / rays[2]
    gx, gy = pos[0] + t * rays[0], pos[1] + t * rays[1]
    # Flat ground lit by LIGHT, fading slightly with distance so the plane reads as receding.
    fade = 1.0 - 0.22 * (t - t.min()) / (t.max() - t.min())
    ground = ((GROUND_RGB * (0.32 + 0.68 * LIGHT[2]))[None, None, :] * fade[..., None] + 0.5).astype(np.uint8)
    for a in (*rays, t, gx, gy, ground):
        a.setflags(write=False)
    return _Camera(pos, fwd, right, up, f, cx, cy, rays, t, (gx, gy), ground)


def _extent(shape: str, radius: float) -> tuple[float, float]:
    """(horizontal bounding radius, height) of a shape of the given size radius."""
    return (0.8 * radius * math.sqrt(2), 1.6 * radius) if shape == "cube" else (radius, 2 * radius)


def _intersect(shape: str, radius: float, centre: np.ndarray, yaw: float, o: np.ndarray,
               dx: np.ndarray, dy: np.ndarray, dz: np.ndarray):
    """Nearest hit t (inf for a miss; t is the z-depth because d . forward = 1) and the unit normal."""
    ox, oy, oz = o - centre
    inf, r = np.inf, radius
    if shape == "sphere":
        a, b = dx * dx + dy * dy + dz * dz, 2 * (ox * dx + oy * dy + oz * dz)
        disc = b * b - 4 * a * (ox * ox + oy * oy + oz * oz - r * r)
        t = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), inf)
        ts = np.where(disc >= 0, t, 0.0)
        return t, ((ox + ts * dx) / r, (oy + ts * dy) / r, (oz + ts * dz) / r)
    if shape == "cylinder":  # vertical axis, base on the ground, centre at half height
        a, b = dx * dx + dy * dy, 2 * (ox * dx + oy * dy)  # half height == radius
        disc = b * b - 4 * a * (ox * ox + oy * oy - r * r)
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        t_side = np.where((disc >= 0) & (np.abs(oz + t_side * dz) <= r), t_side, inf)
        t_top = (r - oz) / dz
        px, py = ox + t_top * dx, oy + t_top * dy
        t_top = np.where((px * px + py * py <= r * r) & (t_top > 0), t_top, inf)
        is_top = t_top < t_side
        t = np.minimum(t_side, t_top)
        ts = np.where(np.isfinite(t), t, 0.0)
        side = ~is_top / r
        return t, ((ox + ts * dx) * side, (oy + ts * dy) * side, is_top.astype(np.float64))
    # cube: slab test in the object's frame (rotated by -yaw about z)
    c, s, half = math.cos(yaw), math.sin(yaw), 0.8 * r
    lo = (c * ox + s * oy, -s * ox + c * oy, oz)
    ld = [c * dx + s * dy, -s * dx + c * dy, dz]
    near, far, signs = [], [], []
    for k in range(3):
        d = np.where(np.abs(ld[k]) < 1e-12, 1e-12, ld[k])
        t1, t2 = (-half - lo[k]) / d, (half - lo[k]) / d
        near.append(np.minimum(t1, t2))
        far.append(np.maximum(t1, t2))
        signs.append(-np.sign(d))
    tn = np.maximum(np.maximum(near[0], near[1]), near[2])
    tf = np.minimum(np.minimum(far[0], far[1]), far[2])
    t = np.where((tn <= tf) & (tn > 0), tn, inf)
    ax0 = (near[0] >= near[1]) & (near[0] >= near[2])  # the entry face is the last slab entered
    ax1 = ~ax0 & (near[1] >= near[2])
    lnx, lny, lnz = ax0 * signs[0], ax1 * signs[1], (~ax0 & ~ax1) * signs[2]
    return t, (c * lnx - s * lny, s * lnx + c * lny, lnz)


def _shade(base: tuple[int, int, int], n, dx, dy, dz) -> np.ndarray:
    """Lambert + a soft Blinn-Phong highlight; returns float HxWx3 in 0..255."""
    nx, ny, nz = n
    diffuse = np.maximum(nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2], 0.0)
    inv = 1.0 / np.sqrt(dx * dx + dy * dy + dz * dz)
    hx, hy, hz = LIGHT[0] - dx * inv, LIGHT[1] - dy * inv, LIGHT[2] - dz * inv
    spec = 70.0 * (np.maximum(nx * hx + ny * hy + nz * hz, 0.0) / np.sqrt(hx * hx + hy * hy + hz * hz)) ** 24
    return np.stack([b * (0.32 + 0.68 * diffuse) + spec for b in base], axis=-1)


def _window(cam: _Camera, pts: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """Pixel rows/cols (r0, r1, c0, c1) that can hold the projection of the convex hull of `pts`."""
    xs, ys, _ = cam.project(pts)
    return (max(math.floor(ys.min()) - 1, 0), min(math.ceil(ys.max()) + 1, h),
            max(math.floor(xs.min()) - 1, 0), min(math.ceil(xs.max()) + 1, w))


def _corners(x: float, y: float, reach: float, z0: float, z1: float) -> np.ndarray:
    return np.array([[x + sx * reach, y + sy * reach, z] for sx in (-1, 1) for sy in (-1, 1) for z in (z0, z1)])


def _shadow(rgb: np.ndarray, cam: _Camera, o: dict) -> None:
    """Darken the ground in a soft capsule from the footprint along the light's ground direction."""
    tip = o["height"] * 0.9 / LIGHT[2]
    x0, y0, r = o["x"], o["y"], o["reach"] * 0.95
    sx, sy = -tip * LIGHT[0], -tip * LIGHT[1]
    pts = np.concatenate([_corners(x0, y0, r, 0, 0), _corners(x0 + sx, y0 + sy, r, 0, 0)])
    r0, r1, c0, c1 = _window(cam, pts, rgb.shape[1], rgb.shape[0])
    if r1 <= r0 or c1 <= c0:
        return
    px, py = cam.ground_xy[0][r0:r1, c0:c1] - x0, cam.ground_xy[1][r0:r1, c0:c1] - y0
    u = np.clip((px * sx + py * sy) / (sx * sx + sy * sy), 0.0, 1.0)
    dist = np.hypot(px - u * sx, py - u * sy)
    dark = 1.0 - 0.45 * (1.0 - np.clip((dist - 0.7 * r) / (0.5 * r), 0.0, 1.0)) * (1.0 - 0.5 * u)
    rgb[r0:r1, c0:c1] = (rgb[r0:r1, c0:c1] * dark[..., None].astype(np.float32)).astype(np.uint8)


def _layout(rng: np.random.Generator, params: SceneParams, cam: _Camera) -> Optional[list[dict]]:
    """Draw non-overlapping objects, each fully inside the frame, with unique (colour, shape)."""
    n = int(rng.integers(params.min_objects, params.max_objects + 1))
    pairs = [(c, s) for c in COLORS for s in SHAPES]
    objs: list[dict] = []
    for p in rng.permutation(len(pairs))[:n]:
        color, shape = pairs[p]
        size = "large" if rng.random() < 0.5 else "small"
        radius = SIZES[size] * params.object_scale
        reach, height = _extent(shape, radius)
        yaw = float(rng.uniform(0, math.pi / 2)) if shape == "cube" else 0.0
        for _ in range(40):
            x, y = float(rng.uniform(-4.0, 4.0)), float(rng.uniform(-3.5, 3.0))
            if any(math.hypot(x - o["x"], y - o["y"]) < reach + o["reach"] + 0.15 * params.object_scale for o in objs):
                continue
            r0, r1, c0, c1 = _window(cam, _corners(x, y, reach, 0.0, height), params.width, params.height)
            if r0 >= 1 and c0 >= 1 and r1 <= params.height - 1 and c1 <= params.width - 1:
                objs.append(dict(shape=shape, color=color, size=size, radius=radius, reach=reach,
                                 height=height, yaw=yaw, x=x, y=y))
                break
        else:
            return None
    return objs


def _render(index: int, seed: int, params: SceneParams, cam: _Camera, objs: list[dict]) -> Optional[Scene]:
    w, h = params.width, params.height
    rgb = cam.ground_rgb.copy()
    for o in objs:  # shadows first: objects drawn later cover them
        _shadow(rgb, cam, o)
    zbuf, ids, silhouettes, windows = cam.ground_z.copy(), np.full((h, w), -1, dtype=np.int16), [], []
    for k, o in enumerate(objs):
        centre = np.array([o["x"], o["y"], o["height"] / 2])
        r0, r1, c0, c1 = _window(cam, _corners(o["x"], o["y"], o["reach"], 0.0, o["height"]), w, h)
        dx, dy, dz = (a[r0:r1, c0:c1] for a in cam.rays)
        t, n = _intersect(o["shape"], o["radius"], centre, o["yaw"], cam.position, dx, dy, dz)
        win = t < zbuf[r0:r1, c0:c1]
        zbuf[r0:r1, c0:c1][win] = t[win]
        ids[r0:r1, c0:c1][win] = k
        rgb[r0:r1, c0:c1][win] = np.clip(_shade(COLORS[o["color"]], n, dx, dy, dz)[win] + 0.5, 0, 255).astype(np.uint8)
        silhouettes.append(int(np.isfinite(t).sum()))
        windows.append((r0, r1, c0, c1))
    depth, objects = ((zbuf - zbuf.min()) / (zbuf.max() - zbuf.min())).astype(np.float32), []
    for k, o in enumerate(objs):
        r0, r1, c0, c1 = windows[k]
        vis = ids[r0:r1, c0:c1] == k
        count = int(vis.sum())
        if count < params.min_visible_pixels or count < params.min_visible_fraction * silhouettes[k]:
            return None
        rows, cols = np.flatnonzero(vis.any(axis=1)), np.flatnonzero(vis.any(axis=0))
        box = (float(c0 + cols[0]) / w, float(r0 + rows[0]) / h, float(c0 + cols[-1] + 1) / w,
               float(r0 + rows[-1] + 1) / h)
        centre = np.array([o["x"], o["y"], o["height"] / 2])  # the centre of its bounding box
        objects.append(SceneObject(
            shape=o["shape"], color=o["color"], size=o["size"], position=tuple(float(v) for v in centre),
            box=box, mean_depth=float(depth[r0:r1, c0:c1][vis].mean(dtype=np.float64)), visible_pixels=count,
            yaw=o["yaw"], camera_z=float((centre - cam.position) @ cam.forward)))
    return Scene(index, seed, rgb, depth, objects, [], zbuf.astype(np.float32), ids, params)


def render_scene(index: int, seed: int, params: SceneParams = SceneParams()) -> Scene:
    """Scene `index` of stream `seed`, independent of every other scene. The question type is drawn first
    (so types are uniform), then layouts are redrawn until every object is visible enough and the
    question is unambiguous."""
    params.validate()
    rng = np.random.default_rng([seed, index])
    cam = _camera(params.width, params.height)
    qtype = params.question_types[int(rng.integers(len(params.question_types)))]
    for _ in range(MAX_ATTEMPTS):
        objs = _layout(rng, params, cam)
        scene = None if objs is None else _render(index, seed, params, cam, objs)
        q = None if scene is None else make_question(scene, qtype, rng, params.mc_fraction)
        if q is not None:
            scene.questions.append(q)
            return scene
    raise RuntimeError(f"no valid {qtype!r} scene after {MAX_ATTEMPTS} layouts for index={index} seed={seed}; "
                       f"relax SceneParams ({params})")


def question_for(scene: Scene, rng: np.random.Generator, params: Optional[SceneParams] = None) -> Question:
    """One question about `scene`: question types (of `params`, else the scene's own) are tried in a random
    order until one is unambiguous. `render_scene` already guarantees `scene.questions[0]`; this draws anew."""
    params = params or scene.params or SceneParams()
    for i in rng.permutation(len(params.question_types)):
        q = make_question(scene, params.question_types[int(i)], rng, params.mc_fraction)
        if q is not None:
            return q
    raise ValueError(f"scene {scene.index}: none of {list(params.question_types)} can be asked unambiguously")


def _box_mean(depth: np.ndarray, box: Box) -> float:
    """Mean depth over a box (what the depth reward reads for a focus on this object)."""
    (hgt, wid), (x1, y1, x2, y2) = depth.shape, box
    return float(depth[round(y1 * hgt):round(y2 * hgt), round(x1 * wid):round(x2 * wid)].mean(dtype=np.float64))


def _nearer(scene: Scene, a: int, b: int) -> Optional[bool]:
    """True if object a is clearly nearer than b by every measure, False if clearly farther, else None."""
    oa, ob = scene.objects[a], scene.objects[b]
    gaps = [(ob.camera_z - oa.camera_z, DEPTH_MARGIN), (ob.mean_depth - oa.mean_depth, NORM_DEPTH_MARGIN),
            (_box_mean(scene.depth, ob.box) - _box_mean(scene.depth, oa.box), NORM_DEPTH_MARGIN)]
    if all(g >= m for g, m in gaps):
        return True
    if all(g <= -m for g, m in gaps):
        return False
    return None


def _finish(qtype: str, text: str, answer: str, options: list[str], mc: bool, objs: list[int],
            scene: Scene) -> Question:
    boxes = [scene.objects[i].box for i in objs]
    if mc:
        return Question(qtype, text, "ABCDEFGH"[options.index(answer)], answer, list(options), boxes, objs)
    return Question(qtype, text, answer, answer, None, boxes, objs)


def make_question(scene: Scene, qtype: str, rng: np.random.Generator, mc_fraction: float = 0.5) -> Optional[Question]:
    """A question of type `qtype`, or None when the scene cannot support one unambiguously."""
    objs = scene.objects
    mc = bool(rng.random() < mc_fraction)
    pairs = [(a, b) for a in range(len(objs)) for b in range(len(objs)) if a != b]
    if qtype == "relative_depth":
        ok = [(a, b) for a, b in pairs if _nearer(scene, a, b) is not None]
        if not ok:
            return None
        a, b = ok[int(rng.integers(len(ok)))]
        closer = bool(rng.random() < 0.5)
        winner = a if _nearer(scene, a, b) == closer else b
        word = "closer to" if closer else "farther from"
        text = f"Which is {word} the camera, the {objs[a].name} or the {objs[b].name}?"
        return _finish(qtype, text, objs[winner].name, [objs[a].name, objs[b].name], mc, [a, b], scene)
    if qtype == "left_right":
        cx = [(o.box[0] + o.box[2]) / 2 for o in objs]
        ok = [(a, b) for a, b in pairs if abs(cx[a] - cx[b]) >= X_MARGIN]
        if not ok:
            return None
        a, b = ok[int(rng.integers(len(ok)))]
        text = f"Is the {objs[a].name} to the left or to the right of the {objs[b].name}?"
        return _finish(qtype, text, "left" if cx[a] < cx[b] else "right", ["left", "right"], mc, [a, b], scene)
    if qtype == "counting":
        by_shape = rng.random() < 0.7
        present = sorted({o.shape if by_shape else o.color for o in objs})
        key = present[int(rng.integers(len(present)))]
        members = [i for i, o in enumerate(objs) if (o.shape if by_shape else o.color) == key]
        text = f"How many {PLURALS[key]} are there?" if by_shape else f"How many {key} objects are there?"
        others = [k for k in range(0, 8) if k != len(members)]
        options = sorted([len(members), *(others[int(i)] for i in rng.choice(len(others), 3, replace=False))])
        return _finish(qtype, text, str(len(members)), [str(k) for k in options], mc, members, scene)
    if qtype == "attribute":
        nearest = bool(rng.random() < 0.5)
        order = sorted(range(len(objs)), key=lambda i: objs[i].camera_z, reverse=not nearest)
        target = order[0]
        if any(_nearer(scene, target, j) is not nearest for j in order[1:]):
            return None  # the extreme object must win against every other one by every measure
        attr = "color" if rng.random() < 0.6 else "shape"
        answer, vocab = getattr(objs[target], attr), list(COLORS) if attr == "color" else list(SHAPES)
        distract = [v for v in vocab if v != answer]
        picks = {distract[int(i)] for i in rng.choice(len(distract), min(3, len(distract)), replace=False)}
        options = [v for v in vocab if v == answer or v in picks]
        where = "nearest to" if nearest else "farthest from"
        return _finish(qtype, f"What {attr} is the object {where} the camera?", answer, options, mc, [target], scene)
    raise ValueError(f"unknown question type {qtype!r}; known: {list(QUESTION_TYPES)}")
