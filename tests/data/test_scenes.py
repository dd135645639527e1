"""The synthetic scene renderer: determinism, exact geometry, exact visible boxes, honest questions, speed."""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pytest
from PIL import Image

from sif.data import scenes as S
from sif.data.scenes import Question, Scene, SceneParams, make_question, question_for, render_scene

N = 60  # scenes checked by the invariant tests


@pytest.fixture(scope="module")
def many() -> list[Scene]:
    return [render_scene(i, 3) for i in range(N)]


def _png(scene: Scene) -> bytes:
    buf = io.BytesIO()
    scene.image().save(buf, format="PNG")
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr.astype(np.float16), allow_pickle=False)
    return buf.getvalue()


def test_same_inputs_give_byte_identical_files_and_scenes_are_independent():
    a = render_scene(7, 11)
    _ = [render_scene(i, 11) for i in range(5)]  # other scenes in between change nothing
    b = render_scene(7, 11)
    assert _png(a) == _png(b) and _npy(a.depth) == _npy(b.depth)
    assert a.questions == b.questions and a.objects == b.objects
    assert _png(render_scene(8, 11)) != _png(a)
    assert _png(render_scene(7, 12)) != _png(a)


def test_image_is_rgb_at_the_requested_size_and_carries_its_depth():
    params = SceneParams(width=200, height=150)
    scene = render_scene(0, 0, params)
    img = scene.image()
    assert img.mode == "RGB" and img.size == (200, 150)
    assert scene.rgb.shape == (150, 200, 3) and scene.rgb.dtype == np.uint8
    assert scene.depth.shape == (150, 200) and scene.depth.dtype == np.float32
    assert img.info[S.DEPTH_INFO_KEY] is scene.depth
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(_png(scene)))), scene.rgb)


def test_depth_is_the_whole_image_min_max_of_the_metric_z_depth(many):
    for s in many:
        z = s.metric_depth.astype(np.float64)
        assert np.isfinite(z).all() and z.min() > 0
        assert s.depth.min() == 0.0 and s.depth.max() == 1.0
        np.testing.assert_allclose(s.depth, (z - z.min()) / (z.max() - z.min()), atol=1e-6)


def _surface_residual(shape: str, radius: float, centre, yaw: float, p: np.ndarray) -> np.ndarray:
    """Distance of points p (N x 3) from the analytic surface of the object."""
    q = p - np.asarray(centre)
    if shape == "sphere":
        return np.abs(np.linalg.norm(q, axis=1) - radius)
    if shape == "cylinder":  # side (rho = r, |z| <= r) or top (z = r, rho <= r)
        rho = np.hypot(q[:, 0], q[:, 1])
        side = np.abs(rho - radius) + np.maximum(np.abs(q[:, 2]) - radius, 0)
        top = np.abs(q[:, 2] - radius) + np.maximum(rho - radius, 0)
        return np.minimum(side, top)
    c, s = math.cos(yaw), math.sin(yaw)
    local = np.stack([c * q[:, 0] + s * q[:, 1], -s * q[:, 0] + c * q[:, 1], q[:, 2]], axis=1)
    return np.abs(np.abs(local).max(axis=1) - 0.8 * radius)


def test_every_pixel_lies_on_the_surface_it_is_labelled_with(many):
    """Back-projecting each pixel's metric depth along its ray lands exactly on the ground or its object."""
    for s in many[:20]:
        cam = S._camera(s.rgb.shape[1], s.rgb.shape[0])
        pts = cam.position + s.metric_depth.astype(np.float64)[..., None] * np.stack(cam.rays, axis=-1)
        ground = s.mask == -1
        assert np.abs(pts[ground][:, 2]).max() < 1e-4  # float32 storage of z-depth ~ 1e-6 relative
        for k, o in enumerate(s.objects):
            res = _surface_residual(o.shape, S.SIZES[o.size], o.position, o.yaw, pts[s.mask == k])
            assert res.max() < 1e-4, (o.name, res.max())


def test_visible_boxes_counts_and_means_are_exact(many):
    for s in many:
        h, w = s.mask.shape
        for k, o in enumerate(s.objects):
            rows, cols = np.nonzero(s.mask == k)
            assert o.visible_pixels == rows.size >= 60
            assert o.box == (cols.min() / w, rows.min() / h, (cols.max() + 1) / w, (rows.max() + 1) / h)
            assert o.mean_depth == pytest.approx(float(s.depth[rows, cols].mean(dtype=np.float64)), abs=1e-12)
            # objects stand inside the frame (their full extent, hence their box, is never cut off)
            assert 0 < o.box[0] < o.box[2] < 1 and 0 < o.box[1] < o.box[3] < 1


def test_objects_are_uniquely_named_and_counts_respect_params(many):
    for s in many:
        names = [o.name for o in s.objects]
        assert len(set(names)) == len(names)
        assert 2 <= len(s.objects) <= 5
        assert all(o.shape in S.SHAPES and o.color in S.COLORS and o.size in S.SIZES for o in s.objects)
    sizes = {len(s.objects) for s in many}
    assert sizes == {2, 3, 4, 5}
    one = SceneParams(min_objects=1, max_objects=1, question_types=("counting", "attribute"))
    assert all(len(render_scene(i, 0, one).objects) == 1 for i in range(5))


def _hand_scene(objs: list[dict], params: SceneParams = SceneParams()) -> Scene:
    """Render a hand-made layout through the same code path as render_scene."""
    cam = S._camera(params.width, params.height)
    full = []
    for o in objs:
        radius = S.SIZES[o["size"]]
        reach, height = S._extent(o["shape"], radius)
        full.append(dict(o, radius=radius, reach=reach, height=height, yaw=o.get("yaw", 0.0)))
    scene = S._render(0, 0, params, cam, full)
    assert scene is not None
    return scene


def test_perspective_makes_the_same_object_smaller_when_farther():
    near = _hand_scene([dict(shape="sphere", color="red", size="large", x=0.0, y=-2.0)]).objects[0]
    far = _hand_scene([dict(shape="sphere", color="red", size="large", x=0.0, y=3.0)]).objects[0]
    assert near.camera_z < far.camera_z and near.mean_depth < far.mean_depth
    assert near.visible_pixels > 1.5 * far.visible_pixels
    assert (near.box[2] - near.box[0]) > (far.box[2] - far.box[0])
    # a large object is larger than a small one at the same place
    small = _hand_scene([dict(shape="cube", color="red", size="small", x=0.0, y=0.0)]).objects[0]
    large = _hand_scene([dict(shape="cube", color="red", size="large", x=0.0, y=0.0)]).objects[0]
    assert large.visible_pixels > 3 * small.visible_pixels


def test_nearer_object_occludes_the_farther_one():
    params = SceneParams(min_visible_fraction=0.0)
    alone = _hand_scene([dict(shape="cylinder", color="blue", size="large", x=0.0, y=2.0)], params)
    both = _hand_scene([dict(shape="cylinder", color="blue", size="large", x=0.0, y=2.0),
                        dict(shape="sphere", color="red", size="large", x=0.0, y=0.2)], params)
    hidden = (alone.mask == 0) & (both.mask == 1)
    assert hidden.sum() > 50  # the sphere covers part of the cylinder ...
    assert both.objects[0].visible_pixels == alone.objects[0].visible_pixels - hidden.sum()
    assert (both.metric_depth[hidden] < alone.metric_depth[hidden]).all()  # ... because it is nearer


def _check_question(s: Scene, q: Question) -> None:
    objs = s.objects
    assert q.boxes == [objs[i].box for i in q.objects]
    if q.choices is None:
        assert q.answer == q.answer_text
    else:
        assert q.answer in "ABCD"[: len(q.choices)] and q.choices[ord(q.answer) - 65] == q.answer_text
        assert len(set(q.choices)) == len(q.choices)
    if q.qtype == "relative_depth":
        a, b = q.objects
        assert q.question == (f"Which is {'closer to' if 'closer' in q.question else 'farther from'} the camera, "
                              f"the {objs[a].name} or the {objs[b].name}?")
        z = {objs[a].name: objs[a].camera_z, objs[b].name: objs[b].camera_z}
        pick = min if "closer" in q.question else max
        assert q.answer_text == pick(z, key=z.get) and abs(objs[a].camera_z - objs[b].camera_z) >= S.DEPTH_MARGIN
        d = {objs[a].name: objs[a].mean_depth, objs[b].name: objs[b].mean_depth}
        assert q.answer_text == pick(d, key=d.get)
    elif q.qtype == "left_right":
        a, b = q.objects
        assert q.question == f"Is the {objs[a].name} to the left or to the right of the {objs[b].name}?"
        ca, cb = ((objs[i].box[0] + objs[i].box[2]) / 2 for i in (a, b))
        assert q.answer_text == ("left" if ca < cb else "right") and abs(ca - cb) >= S.X_MARGIN
    elif q.qtype == "counting":
        key = q.question.split()[2]
        members = [i for i, o in enumerate(objs) if S.PLURALS[o.shape] == key or o.color == key]
        assert q.objects == members and q.answer_text == str(len(members)) and members
    else:
        nearest = "nearest" in q.question
        order = sorted(range(len(objs)), key=lambda i: objs[i].camera_z, reverse=not nearest)
        assert q.objects == [order[0]]
        attr = "color" if q.question.startswith("What color") else "shape"
        assert q.answer_text == getattr(objs[order[0]], attr)
        if len(order) > 1:
            assert abs(objs[order[0]].camera_z - objs[order[1]].camera_z) >= S.DEPTH_MARGIN


def test_every_question_is_answered_by_the_ground_truth(many):
    for s in many:
        assert len(s.questions) == 1
        _check_question(s, s.questions[0])
        rng = np.random.default_rng(0)
        for qtype in S.QUESTION_TYPES:
            q = make_question(s, qtype, rng)
            if q is not None:
                assert q.qtype == qtype
                _check_question(s, q)


def test_question_types_are_all_drawn_and_restricted_by_params(many):
    assert {s.questions[0].qtype for s in many} == set(S.QUESTION_TYPES)
    only = SceneParams(question_types=("left_right",), mc_fraction=1.0)
    for i in range(10):
        s = render_scene(i, 0, only)
        assert s.questions[0].qtype == "left_right" and s.questions[0].choices == ["left", "right"]
        q = question_for(s, np.random.default_rng(i))  # defaults to the scene's own params
        assert q.qtype == "left_right" and q.choices is not None
    opened = SceneParams(mc_fraction=0.0)
    assert all(render_scene(i, 0, opened).questions[0].choices is None for i in range(10))


def test_multiple_choice_share_follows_mc_fraction(many):
    mc = sum(s.questions[0].choices is not None for s in many)
    assert 0.3 * N < mc < 0.7 * N  # mc_fraction 0.5


@pytest.mark.parametrize("bad, message", [
    (dict(width=16), "below 32x32"),
    (dict(min_objects=3, max_objects=2), "min_objects"),
    (dict(mc_fraction=1.5), "mc_fraction"),
    (dict(question_types=("colour",)), "question_types"),
    (dict(min_objects=1, max_objects=1), "max_objects >= 2"),
])
def test_bad_params_are_refused_with_the_problem_named(bad, message):
    with pytest.raises(ValueError, match=message):
        render_scene(0, 0, SceneParams(**bad))


def test_rendering_is_fast_on_one_core():
    params = SceneParams()
    render_scene(0, 99, params)  # warm the camera cache
    n = 200
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        render_scene(i, 99, params)
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    rate = n / max(cpu, 1e-9)  # CPU time: robust to other processes sharing the machine
    print(f"\nscenes/s at 320x240 incl. questions: {rate:.0f} (cpu time), {n / wall:.0f} (wall)")
    assert rate >= 100
