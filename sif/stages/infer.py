"""stage=infer: one image file + one question -> the chain, the answer, and the picture of its areas.

`python launch.py stage=infer stage.image=photo.jpg stage.question="Which cup is closer?" [backend=...]`

The depth image shown to the model (the prompt always has RGB + depth) comes from, in order:
1. `stage.depth=<map.npy>` (0 nearest .. 1 farthest, any size); `stage.depth=flat` is an explicit opt-in to
   a constant map (with a warning: the depth image then carries no information);
2. the depth group: `depth=depth_anything_v2` computes it (set `depth.model=<local folder>` offline);
3. `depth=ground_truth` (the default) exists only for our synthetic scenes, so it is used only when the
   image sits in a split written by stage=generate (`<split>/images/x.png` with `<split>/depth/x.npy`);
   for any other image the stage stops and names the three options above. Decision: refusing beats a
   silent flat map, which would make the depth image and every depth label meaningless.

Writes into the run folder: depth.npy + depth.png (what the model saw), infer.png (the image with the
areas drawn: a colour per step, the last one thicker, each box labelled with its predicted depth) and
infer.json (completion, answer, areas with predicted and map depth, format problems).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.infer")
FLAT = "flat"


def infer_depth(st: Any, image: Any, depth_cfg: Any) -> tuple[np.ndarray, str]:
    """(0..1 depth map, where it came from) for the stage's image; see the module docstring."""
    from sif.depth import DepthMap, build_depth_provider

    if st.depth:
        if str(st.depth) == FLAT:
            log.warning("stage.depth=flat: the model sees a constant depth image; depth labels are meaningless")
            return np.full((image.height, image.width), 0.5, dtype=np.float32), "flat"
        dmap = DepthMap.load(Path(str(st.depth)).expanduser())
        if abs(dmap.width / dmap.height - image.width / image.height) > 0.02:
            log.warning("depth map %dx%d and image %dx%d differ in aspect ratio", dmap.width, dmap.height,
                        image.width, image.height)
        return np.clip(dmap.array, 0.0, 1.0), str(st.depth)
    if str(depth_cfg.name) == "ground_truth":
        image_path = Path(str(st.image)).expanduser().resolve()
        sibling = image_path.parent.parent / "depth" / f"{image_path.stem}.npy"
        if image_path.parent.name == "images" and sibling.is_file():
            log.info("depth=ground_truth: using the synthetic scene's map %s", sibling)
            return DepthMap.load(sibling).array, str(sibling)
        raise ValueError(
            f"depth=ground_truth has no map for {image_path} (ground truth exists only for synthetic scenes): "
            "pass stage.depth=<map.npy>, or depth=depth_anything_v2 (depth.model=<local folder> offline), "
            "or stage.depth=flat for a constant map")
    return build_depth_provider(depth_cfg).predict([image])[0], f"depth={depth_cfg.name}"


def describe_areas(parsed: Any, dmap: Any) -> list[list[dict]]:
    out = []
    for area in parsed.areas:
        foci = []
        for f in area:
            try:
                mean = round(float(dmap.box_mean(f.bbox)), 4)
            except ValueError:
                mean = None
            foci.append({"bbox_2d": list(f.bbox), "depth": f.depth, "map_depth": mean})
        out.append(foci)
    return out


@STAGES.register("infer")
class InferStage(Stage):
    name = "infer"
    uses_torch = False  # as stage=eval: backends that need torch import and seed it themselves

    def run(self) -> dict:
        from sif.chain import parse_chain
        from sif.data.images import open_rgb
        from sif.depth import DepthMap, save_depth
        from sif.eval.backends import GenRequest, build_backend
        from sif.eval.report import draw_chain, save_picture
        from sif.io import write_json

        st = self.cfg.stage
        if not st.image or not str(st.question).strip():
            raise ValueError("stage=infer needs stage.image=<image file> and stage.question=\"...\"")
        image = open_rgb(Path(str(st.image)).expanduser())
        depth, depth_source = infer_depth(st, image, self.cfg.depth)
        out = self.ctx.run_dir
        save_depth(depth, out / "depth.npy", out / "depth.png")
        backend = build_backend(self.cfg.backend, self.cfg.model, self.ctx.cache_dir, st.checkpoint or None,
                                zoom_cfg=self.cfg.get("zoom"))
        try:
            request = GenRequest(id="infer", question=str(st.question), images=[image, str(out / "depth.png")])
            completion = backend.generate([request])[0]
            error = backend.errors.get("infer")
            crops = getattr(backend, "zooms", {}).pop("infer", None)
        finally:
            backend.close()
        if error:
            raise RuntimeError(f"backend {self.cfg.backend.name} failed: {error}")
        parsed = parse_chain(completion)
        picture = save_picture(draw_chain(image, parsed.areas), out / "infer.png")
        record = {"image": str(st.image), "question": str(st.question), "depth_source": depth_source,
                  "completion": completion, "answer": parsed.answer, "format_ok": parsed.valid,
                  "violations": parsed.violations,
                  "areas": describe_areas(parsed, DepthMap(depth.astype(np.float32)))}
        if crops is not None:  # backend.zoom=true: the crops the model saw, in order (zooms/*.png)
            from sif.zoom.records import save_crops

            record["zooms"] = save_crops(crops, out / "zooms", "infer", out)
        write_json(out / "infer.json", record)
        print(f"\n--- chain ---\n{completion}\n--- answer ---\n{parsed.answer if parsed.answer is not None else '(none)'}"
              f"\n--- areas drawn: {picture}", flush=True)
        return {"answer": parsed.answer, "format_ok": parsed.valid, "picture": str(picture),
                "completion_chars": len(completion), "depth_source": depth_source}
