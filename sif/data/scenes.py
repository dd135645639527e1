"""Seeded synthetic CLEVR-like scenes with exact depth, visible boxes and unambiguous questions.

Why a renderer of our own: the embedded default must run offline on a laptop CPU, and the rewards need
ground truth that a photo cannot give (exact per-pixel depth, exact visible boxes). Everything here is
pure numpy: every pixel's ray is intersected analytically with spheres, yaw-rotated cubes and vertical
cylinders standing on a ground plane, seen through a pinhole camera; the nearest hit wins (a z-buffer),
so occlusion is exact. Lambert + Blinn-Phong shading and soft contact shadows make it read as 3-D.

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
from dataclasses import dataclass, field
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
PITCH_DEG, VFOV_DEG, CAMERA_DISTANCE = 42.0, 40.0, 12.0
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

    def validate(self) -> None:
        problems = []
        if self.width < 32 or self.height < 32:
            problems.append(f"image size {self.width}x{self.height} is below 32x32")
        if not 1 <= self.min_objects <= self.max_objects <= 10:
            problems.append(f"need 1 <= min_objects ({self.min_objects}) <= max_objects ({self.max_objects}) <= 10")
        if not 0.0 <= self.mc_fraction <= 1.0:
            problems.append(f"mc_fraction {self.mc_fraction} is outside [0, 1]")
        unknown = [q for q in self.question_types if q not in QUESTION_TYPES]
        if unknown or not self.question_types:
            problems.append(f"question_types {list(self.question_types)} must be a non-empty subset of {list(QUESTION_TYPES)}")
        pair_types = {"relative_depth", "left_right"} & set(self.question_types)
        if pair_types and self.max_objects < 2:
            problems.append(f"question types {sorted(pair_types)} need max_objects >= 2")
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

    def image(self) -> Image.Image:
        img = Image.fromarray(self.rgb, "RGB")
        img.info[DEPTH_INFO_KEY] = self.depth
        return img


# ----------------------------------------------------------------------------------------- camera
@dataclass(frozen=True)
class _Camera:
    position: np.ndarray
    forward: np.ndarray
    right: np.ndarray
    up: np.ndarray
    f: float  # focal length in pixels (square pixels)
    cx: float
    cy: float
    rays: tuple[np.ndarray, np.ndarray, np.ndarray]  # per-pixel direction with d . forward = 1
    ground_z: np.ndarray  # z-depth of the ground at every pixel
    ground_xy: tuple[np.ndarray, np.ndarray]
    ground_rgb: np.ndarray  # shaded ground, float32 HxWx3

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
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    f = (height / 2) / math.tan(math.radians(VFOV_DEG) / 2)
    cx, cy = width / 2, height / 2
    u = (np.arange(width) + 0.5 - cx) / f
    v = (np.arange(height) + 0.5 - cy) / f
    rays = tuple(np.ascontiguousarray(fwd[k] + u[None, :] * right[k] - v[:, None] * up[k]) for k in range(3))
    if rays[2].max() >= 0:
        raise ValueError("camera sees the horizon; every ray must meet the ground")
    t = -pos[2] / rays[2]
    gx, gy = pos[0] + t * rays[0], pos[1] + t * rays[1]
    # Flat ground lit by LIGHT, fading slightly with distance so the plane reads as receding.
    fade = 1.0 - 0.22 * (t - t.min()) / (t.max() - t.min())
    ground = (GROUND_RGB * (0.32 + 0.68 * LIGHT[2]))[None, None, :] * fade[..., None]
    arrays = [*rays, t, gx, gy]
    for a in arrays:
        a.setflags(write=False)
    ground = ground.astype(np.float32)
    ground.setflags(write=False)
    return _Camera(pos, fwd, right, up, f, cx, cy, rays, t, (gx, gy), ground)


# ------------------------------------------------------------------------------- ray casting
def _extent(shape: str, radius: float) -> tuple[float, float]:
    """(horizontal bounding radius, height) of a shape of the given size radius."""
    if shape == "cube":
        return 0.8 * radius * math.sqrt(2), 1.6 * radius
    return radius, 2 * radius


def _intersect(shape: str, radius: float, centre: np.ndarray, yaw: float, o: np.ndarray,
               dx: np.ndarray, dy: np.ndarray, dz: np.ndarray):
    """Nearest hit t (inf for a miss; t is the z-depth because d . forward = 1) and the unit normal."""
    ox, oy, oz = o - centre
    inf = np.inf
    if shape == "sphere":
        a = dx * dx + dy * dy + dz * dz
        b = 2 * (ox * dx + oy * dy + oz * dz)
        disc = b * b - 4 * a * (ox * ox + oy * oy + oz * oz - radius * radius)
        hit = disc >= 0
        t = np.where(hit, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), inf)
        ts = np.where(hit, t, 0.0)
        return t, ((ox + ts * dx) / radius, (oy + ts * dy) / radius, (oz + ts * dz) / radius)
    if shape == "cylinder":  # vertical axis, base on the ground, centre at half height
        h = radius
        a = dx * dx + dy * dy
        b = 2 * (ox * dx + oy * dy)
        disc = b * b - 4 * a * (ox * ox + oy * oy - radius * radius)
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        z_side = oz + t_side * dz
        side = (disc >= 0) & (z_side >= -h) & (z_side <= h)
        t_top = (h - oz) / dz
        px, py = ox + t_top * dx, oy + t_top * dy
        top = (px * px + py * py <= radius * radius) & (t_top > 0)
        t_side = np.where(side, t_side, inf)
        t_top = np.where(top, t_top, inf)
        is_top = t_top < t_side
        t = np.minimum(t_side, t_top)
        ts = np.where(np.isfinite(t), t, 0.0)
        nx = np.where(is_top, 0.0, (ox + ts * dx) / radius)
        ny = np.where(is_top, 0.0, (oy + ts * dy) / radius)
        return t, (nx, ny, is_top.astype(np.float64))
    # cube: slab test in the object's frame (rotated by -yaw about z)
    c, s = math.cos(yaw), math.sin(yaw)
    half = 0.8 * radius
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
    ax0 = (near[0] >= near[1]) & (near[0] >= near[2])
    ax1 = ~ax0 & (near[1] >= near[2])
    ax2 = ~ax0 & ~ax1
    lnx, lny, lnz = ax0 * signs[0], ax1 * signs[1], ax2 * signs[2]
    return t, (c * lnx - s * lny, s * lnx + c * lny, lnz)


def _shade(base: tuple[int, int, int], n, dx, dy, dz) -> np.ndarray:
    """Lambert + a soft Blinn-Phong highlight; returns float HxWx3 in 0..255."""
    nx, ny, nz = n
    diffuse = np.maximum(nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2], 0.0)
    inv = 1.0 / np.sqrt(dx * dx + dy * dy + dz * dz)
    hx, hy, hz = LIGHT[0] - dx * inv, LIGHT[1] - dy * inv, LIGHT[2] - dz * inv
    spec = np.maximum(nx * hx + ny * hy + nz * hz, 0.0) / np.sqrt(hx * hx + hy * hy + hz * hz)
    spec = 70.0 * spec ** 24
    light = 0.32 + 0.68 * diffuse
    return np.stack([b * light + spec for b in base], axis=-1)


def _window(cam: _Camera, xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    return (max(int(math.floor(ys.min())) - 1, 0), min(int(math.ceil(ys.max())) + 1, h),
            max(int(math.floor(xs.min())) - 1, 0), min(int(math.ceil(xs.max())) + 1, w))


def _corners(x: float, y: float, reach: float, z0: float, z1: float) -> np.ndarray:
    return np.array([[x + sx * reach, y + sy * reach, z] for sx in (-1, 1) for sy in (-1, 1) for z in (z0, z1)])


# ---------------------------------------------------------------------------------- layout + render
def _layout(rng: np.random.Generator, params: SceneParams, cam: _Camera) -> Optional[list[dict]]:
    """Draw non-overlapping objects, each fully inside the frame, with unique (colour, shape)."""
    n = int(rng.integers(params.min_objects, params.max_objects + 1))
    pairs = [(c, s) for c in COLORS for s in SHAPES]
    picks = rng.permutation(len(pairs))[:n]
    objs: list[dict] = []
    for p in picks:
        color, shape = pairs[p]
        size = "large" if rng.random() < 0.5 else "small"
        radius = SIZES[size]
        reach, height = _extent(shape, radius)
        yaw = float(rng.uniform(0, math.pi / 2)) if shape == "cube" else 0.0
        for _ in range(40):
            x, y = float(rng.uniform(-4.5, 4.5)), float(rng.uniform(-3.5, 4.0))
            if any(math.hypot(x - o["x"], y - o["y"]) < reach + o["reach"] + 0.15 for o in objs):
                continue
            xs, ys, _ = cam.project(_corners(x, y, reach, 0.0, height))
            if xs.min() >= 1 and ys.min() >= 1 and xs.max() <= cam.cx * 2 - 1 and ys.max() <= cam.cy * 2 - 1:
                objs.append(dict(shape=shape, color=color, size=size, radius=radius, reach=reach,
                                 height=height, yaw=yaw, x=x, y=y))
                break
        else:
            return None
    return objs


def _render(index: int, seed: int, params: SceneParams, cam: _Camera, objs: list[dict]) -> Optional[Scene]:
    w, h = params.width, params.height
    rgb = (cam.ground_rgb + 0.5).astype(np.uint8)
    gx, gy = cam.ground_xy
    for o in objs:  # soft shadows: a capsule from the footprint along the light's ground direction
        tip = o["height"] * 0.9 / LIGHT[2]
        x0, y0 = o["x"], o["y"]
        x1, y1 = x0 - tip * LIGHT[0], y0 - tip * LIGHT[1]
        r = o["reach"] * 0.95
        pts = np.array([[x0, y0, 0.0], [x1, y1, 0.0]])
        ext = np.concatenate([_corners(px, py, r, 0.0, 0.0) for px, py, _ in pts])
        xs, ys, _ = cam.project(ext)
        r0, r1, c0, c1 = _window(cam, xs, ys, w, h)
        if r1 <= r0 or c1 <= c0:
            continue
        px, py = gx[r0:r1, c0:c1] - x0, gy[r0:r1, c0:c1] - y0
        sx, sy = x1 - x0, y1 - y0
        u = np.clip((px * sx + py * sy) / (sx * sx + sy * sy), 0.0, 1.0)
        dist = np.hypot(px - u * sx, py - u * sy)
        dark = 1.0 - 0.45 * (1.0 - np.clip((dist - 0.7 * r) / (0.5 * r), 0.0, 1.0)) * (1.0 - 0.5 * u)
        rgb[r0:r1, c0:c1] = (rgb[r0:r1, c0:c1] * dark[..., None].astype(np.float32)).astype(np.uint8)
    zbuf = cam.ground_z.copy()
    ids = np.full((h, w), -1, dtype=np.int16)
    silhouettes, windows = [], []
    for k, o in enumerate(objs):
        centre = np.array([o["x"], o["y"], o["height"] / 2])
        xs, ys, _ = cam.project(_corners(o["x"], o["y"], o["reach"], 0.0, o["height"]))
        r0, r1, c0, c1 = _window(cam, xs, ys, w, h)
        dx, dy, dz = (a[r0:r1, c0:c1] for a in cam.rays)
        t, n = _intersect(o["shape"], o["radius"], centre, o["yaw"], cam.position, dx, dy, dz)
        hit = np.isfinite(t)
        win = t < zbuf[r0:r1, c0:c1]
        zbuf[r0:r1, c0:c1][win] = t[win]
        ids[r0:r1, c0:c1][win] = k
        rgb[r0:r1, c0:c1][win] = np.clip(_shade(COLORS[o["color"]], n, dx, dy, dz)[win] + 0.5, 0, 255).astype(np.uint8)
        silhouettes.append(int(hit.sum()))
        windows.append((r0, r1, c0, c1))
    zmin, zmax = float(zbuf.min()), float(zbuf.max())
    depth = ((zbuf - zmin) / (zmax - zmin)).astype(np.float32)
    objects = []
    for k, o in enumerate(objs):
        r0, r1, c0, c1 = windows[k]
        vis = ids[r0:r1, c0:c1] == k
        count = int(vis.sum())
        if count < params.min_visible_pixels or count < params.min_visible_fraction * silhouettes[k]:
            return None
        rows, cols = np.flatnonzero(vis.any(axis=1)), np.flatnonzero(vis.any(axis=0))
        box = ((c0 + cols[0]) / w, (r0 + rows[0]) / h, (c0 + cols[-1] + 1) / w, (r0 + rows[-1] + 1) / h)
        centre = np.array([o["x"], o["y"], o["height"] / 2])
        objects.append(SceneObject(
            shape=o["shape"], color=o["color"], size=o["size"], position=tuple(float(v) for v in centre),
            box=box, mean_depth=float(depth[r0:r1, c0:c1][vis].mean(dtype=np.float64)), visible_pixels=count,
            yaw=o["yaw"], camera_z=float((centre - cam.position) @ cam.forward)))
    return Scene(index, seed, rgb, depth, objects, [], zbuf.astype(np.float32), ids)


def render_scene(index: int, seed: int, params: SceneParams = SceneParams()) -> Scene:
    """Render scene `index` of the stream `seed`: deterministic, independent of every other scene.

    The question type is drawn first (so types are uniform over `params.question_types`), then layouts
    are redrawn from the same generator until every object is visible enough and that question is
    unambiguous.
    """
    params.validate()
    rng = np.random.default_rng([seed, index])
    cam = _camera(params.width, params.height)
    qtype = params.question_types[int(rng.integers(len(params.question_types)))]
    for _ in range(MAX_ATTEMPTS):
        objs = _layout(rng, params, cam)
        scene = None if objs is None else _render(index, seed, params, cam, objs)
        if scene is None:
            continue
        q = make_question(scene, qtype, rng, params.mc_fraction)
        if q is not None:
            scene.questions.append(q)
            return scene
    raise RuntimeError(f"no valid {qtype!r} scene after {MAX_ATTEMPTS} layouts for index={index} seed={seed}; "
                       f"relax SceneParams ({params})")


# --------------------------------------------------------------------------------------- questions
def question_for(scene: Scene, rng: np.random.Generator, params: Optional[SceneParams] = None) -> Question:
    """One question about `scene`: question types are tried in a random order until one is unambiguous."""
    params = params or SceneParams()
    for i in rng.permutation(len(params.question_types)):
        q = make_question(scene, params.question_types[int(i)], rng, params.mc_fraction)
        if q is not None:
            return q
    raise ValueError(f"scene {scene.index}: none of {list(params.question_types)} can be asked unambiguously")


def _box_mean(depth: np.ndarray, box: Box) -> float:
    hgt, wid = depth.shape
    x1, y1, x2, y2 = box
    sub = depth[int(round(y1 * hgt)):int(round(y2 * hgt)), int(round(x1 * wid)):int(round(x2 * wid))]
    return float(sub.mean(dtype=np.float64))


def _nearer(scene: Scene, a: int, b: int) -> Optional[bool]:
    """True if object a is clearly nearer than b by every measure, False if clearly farther, else None."""
    oa, ob = scene.objects[a], scene.objects[b]
    signs = (np.sign(ob.camera_z - oa.camera_z) if abs(ob.camera_z - oa.camera_z) >= DEPTH_MARGIN else 0,
             np.sign(ob.mean_depth - oa.mean_depth) if abs(ob.mean_depth - oa.mean_depth) >= NORM_DEPTH_MARGIN else 0)
    bm = _box_mean(scene.depth, ob.box) - _box_mean(scene.depth, oa.box)
    signs += (np.sign(bm) if abs(bm) >= NORM_DEPTH_MARGIN else 0,)
    if all(s > 0 for s in signs):
        return True
    if all(s < 0 for s in signs):
        return False
    return None


def _finish(qtype: str, text: str, answer: str, options: list[str], mc: bool, objs: list[int], scene: Scene) -> Question:
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
        word = "closer to" if closer else "farther from"
        winner = a if _nearer(scene, a, b) == closer else b
        text = f"Which is {word} the camera, the {objs[a].name} or the {objs[b].name}?"
        return _finish(qtype, text, objs[winner].name, [objs[a].name, objs[b].name], mc, [a, b], scene)
    if qtype == "left_right":
        def cx(i: int) -> float:
            return (objs[i].box[0] + objs[i].box[2]) / 2
        ok = [(a, b) for a, b in pairs if abs(cx(a) - cx(b)) >= X_MARGIN]
        if not ok:
            return None
        a, b = ok[int(rng.integers(len(ok)))]
        text = f"Is the {objs[a].name} to the left or to the right of the {objs[b].name}?"
        return _finish(qtype, text, "left" if cx(a) < cx(b) else "right", ["left", "right"], mc, [a, b], scene)
    if qtype == "counting":
        by_shape = rng.random() < 0.7
        present = sorted({o.shape if by_shape else o.color for o in objs})
        key = present[int(rng.integers(len(present)))]
        members = [i for i, o in enumerate(objs) if (o.shape if by_shape else o.color) == key]
        text = f"How many {PLURALS[key]} are there?" if by_shape else f"How many {key} objects are there?"
        count = len(members)
        others = [k for k in range(0, 8) if k != count]
        options = sorted([count, *(others[int(i)] for i in rng.choice(len(others), 3, replace=False))])
        return _finish(qtype, text, str(count), [str(k) for k in options], mc, members, scene)
    if qtype == "attribute":
        nearest = bool(rng.random() < 0.5)
        order = sorted(range(len(objs)), key=lambda i: objs[i].camera_z, reverse=not nearest)
        target = order[0]
        if any(_nearer(scene, target, j) is not nearest for j in order[1:]):
            return None
        attr = "color" if rng.random() < 0.6 else "shape"
        where = "nearest to" if nearest else "farthest from"
        answer = getattr(objs[target], attr)
        vocab = list(COLORS) if attr == "color" else list(SHAPES)
        distract = [v for v in vocab if v != answer]
        picks = [distract[int(i)] for i in rng.choice(len(distract), min(3, len(distract)), replace=False)]
        options = [vocab_item for vocab_item in vocab if vocab_item in {answer, *picks}]
        return _finish(qtype, f"What {attr} is the object {where} the camera?", answer, options, mc, [target], scene)
    raise ValueError(f"unknown question type {qtype!r}; known: {list(QUESTION_TYPES)}")
