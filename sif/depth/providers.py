"""Depth providers, registered in `sif.registry.DEPTH_PROVIDERS` under the names configs use.

- `ground_truth`: the renderer's exact map, for synthetic scenes (carried by `Scene.image()`).
- `depth_anything_v2`: the transformers depth-estimation pipeline, as SIFThinker used Depth Anything V2
  (it ran ViT-L; `size` picks the hub id, `model` overrides it with a hub id or a local folder).

Throughput (benchmarks/depth_throughput.py): image-by-image the pipeline is CPU-bound (29.5 img/s on an H100
where the model alone does 572). `predict_iter` / `predict_to_files` stream a dataset through it instead:
decoding (and, with preprocess=pipeline, the processor's resize/normalise) run in DataLoader workers, batches
of `batch_size` go to the model, and `.npy` + colour `.png` files are written by a thread pool while the GPU
works. With preprocess=gpu (the default on a GPU) the workers only decode; resize, normalisation, the resize
back to the image size and the min-max run on the GPU, next to the model.

Every provider returns per-image relative maps (HxW float32, 0 = nearest, 1 = farthest) at the size of
the input image. transformers and torch are imported only when a model is actually loaded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

import numpy as np
from PIL import Image

from sif.data.scenes import DEPTH_INFO_KEY
from sif.depth.map import normalize_disparity
from sif.registry import DEPTH_PROVIDERS

if TYPE_CHECKING:  # the schema imports Hydra; providers only read attributes of it
    from sif.config.data import DepthConfig

HUB_IDS = {
    "small": "depth-anything/Depth-Anything-V2-Small-hf",
    "base": "depth-anything/Depth-Anything-V2-Base-hf",
    "large": "depth-anything/Depth-Anything-V2-Large-hf",
}
DTYPES = ("float32", "float16", "bfloat16")


class DepthProvider:
    """Base class: build from a DepthConfig, then `predict(images)` -> one 0..1 map per image."""

    def __init__(self, cfg: DepthConfig) -> None:
        self.cfg = cfg

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        raise NotImplementedError


def build_depth_provider(cfg: DepthConfig) -> DepthProvider:
    """The provider registered under `cfg.name` (unknown names list the known ones)."""
    return DEPTH_PROVIDERS.get(cfg.name)(cfg)


@DEPTH_PROVIDERS.register("ground_truth")
class GroundTruthDepthProvider(DepthProvider):
    """Returns the exact normalised depth that `sif.data.scenes` attached to each image."""

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        out = []
        for i, img in enumerate(images):
            depth = img.info.get(DEPTH_INFO_KEY)
            if depth is None:
                raise ValueError(
                    f"image {i}: no ground-truth depth attached; the ground_truth provider serves only "
                    "synthetic scenes (sif.data.scenes.Scene.image()); use depth=depth_anything_v2 for other images")
            arr = np.array(depth, dtype=np.float32)
            if arr.shape != (img.height, img.width):
                raise ValueError(f"image {i}: attached depth has shape {arr.shape}, image is {img.height}x{img.width}")
            out.append(arr)
        return out


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; anything else is passed to torch as given."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(name: str) -> Any:
    if name not in DTYPES:
        raise ValueError(f"depth dtype {name!r} is not one of {list(DTYPES)}")
    import torch

    return getattr(torch, name)


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32))
    return np.asarray(img.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)


@DEPTH_PROVIDERS.register("depth_anything_v2")
class DepthAnythingV2Provider(DepthProvider):
    """`transformers.pipeline("depth-estimation")`; the raw `predicted_depth` (disparity-like, larger = closer)
    is resized to the image and turned into 1 - minmax (0 nearest).

    The pipeline is built on first use. Images are grouped by size before batching, so a batch never
    mixes sizes (the DPT processor keeps the aspect ratio, so mixed sizes would not stack).
    `predict(images)` returns maps; `predict_iter(images)` yields (index, map) as batches finish (images may be
    paths: decoded in DataLoader workers); `predict_to_files(images, npy_paths)` writes them asynchronously.
    """

    def __init__(self, cfg: DepthConfig) -> None:
        super().__init__(cfg)
        if cfg.model is None and cfg.size not in HUB_IDS:
            raise ValueError(f"depth size {cfg.size!r} is not one of {sorted(HUB_IDS)} (or set depth.model)")
        if cfg.batch_size < 1:
            raise ValueError(f"depth batch_size must be >= 1, got {cfg.batch_size}")
        if cfg.dtype not in DTYPES:
            raise ValueError(f"depth dtype {cfg.dtype!r} is not one of {list(DTYPES)}")
        preprocess = str(getattr(cfg, "preprocess", "auto") or "auto")
        if preprocess not in PREPROCESS:
            raise ValueError(f"depth preprocess {preprocess!r} is not one of {list(PREPROCESS)}")
        self.preprocess = preprocess
        self.model_id: str = cfg.model or HUB_IDS[cfg.size]
        self._pipe: Optional[Any] = None

    @property
    def pipeline(self) -> Any:
        if self._pipe is None:
            from transformers import pipeline

            self._pipe = pipeline("depth-estimation", model=self.model_id, device=resolve_device(self.cfg.device),
                                  dtype=resolve_dtype(self.cfg.dtype), batch_size=self.cfg.batch_size)
        return self._pipe

    @property
    def mode(self) -> str:
        """'gpu' or 'pipeline' (what preprocess=auto resolves to: gpu when the device is a GPU)."""
        if self.preprocess != "auto":
            return self.preprocess
        return "gpu" if resolve_device(self.cfg.device).startswith("cuda") else "pipeline"

    # ---- public API ----------------------------------------------------------------------------------
    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        results: list[Optional[np.ndarray]] = [None] * len(images)
        for i, arr in self.predict_iter(images, num_workers=0):
            results[i] = arr
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def predict_iter(self, images: Sequence[Any], num_workers: Optional[int] = None,
                     float16: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """(index, 0..1 map) for every image (PIL image or path), in batch order, as batches finish. Maps are
        float32, or float16 with `float16=True` (what the files store; saves a conversion per map)."""
        workers = self.cfg.num_workers if num_workers is None else num_workers
        groups = _size_groups(images)
        if self.mode == "gpu":
            it = self._gpu_iter(images, groups, workers)
        else:
            it = self._pipeline_iter(images, groups, workers)
        for i, arr in it:
            yield i, (arr.astype(np.float16) if float16 else np.asarray(arr, dtype=np.float32))

    def predict_to_files(self, images: Sequence[Any], npy_paths: Sequence[Any], png: bool = True,
                         writers: Optional[int] = None, progress: Optional[Callable[[int], None]] = None) -> int:
        """Compute every map and write it as float16 .npy (+ colour .png beside it), the writes overlapping
        the model's work: a pool of writer processes (forked before any DataLoader worker; PNG encoding
        and colourising hold the GIL, so threads would serialise them), at most a few batches in flight.
        Returns the number written."""
        import multiprocessing as mp
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

        if len(images) != len(npy_paths):
            raise ValueError(f"{len(images)} images but {len(npy_paths)} output paths")
        n_writers = writers or max(2, min(8, (os.cpu_count() or 4) // 2))
        try:
            pool: Any = ProcessPoolExecutor(max_workers=n_writers, mp_context=mp.get_context("fork"))
            list(pool.map(_noop, range(n_writers)))  # start every writer now, before loader threads exist
        except (ValueError, OSError):  # no fork on this platform
            pool = ThreadPoolExecutor(max_workers=n_writers, thread_name_prefix="depth-write")
        in_flight: deque = deque()
        limit = 4 * self.cfg.batch_size + 2 * n_writers
        done = 0
        with pool:
            for i, arr in self.predict_iter(images, float16=True):
                in_flight.append(pool.submit(_write_depth, arr, str(npy_paths[i]), png))
                while len(in_flight) > limit or (in_flight and in_flight[0].done()):
                    in_flight.popleft().result()  # re-raises a writer's error here
                done += 1
                if progress is not None:
                    progress(1)
            while in_flight:
                in_flight.popleft().result()
        return done

    # ---- transformers pipeline, fed a dataset --------------------------------------------------------
    def _pipeline_iter(self, images, groups, workers) -> Iterator[tuple[int, np.ndarray]]:
        pipe = self.pipeline
        for (width, height), idxs in groups.items():
            dataset = _image_dataset([images[i] for i in idxs], decode=False)
            outs = pipe(dataset, batch_size=self.cfg.batch_size, num_workers=workers)
            if isinstance(outs, dict):
                outs = [outs]
            for i, out in zip(idxs, outs):
                disp = np.squeeze(out["predicted_depth"].detach().float().cpu().numpy())
                if disp.shape != (height, width):
                    disp = _resize(disp, width, height)
                yield i, normalize_disparity(disp)

    # ---- decode in workers, everything else on the model's device --------------------------------------
    def _gpu_model(self) -> tuple[Any, Any]:
        if getattr(self, "_gpu", None) is None:
            import torch
            from transformers import AutoImageProcessor, AutoModelForDepthEstimation

            device = resolve_device(self.cfg.device)
            model = AutoModelForDepthEstimation.from_pretrained(self.model_id, dtype=resolve_dtype(self.cfg.dtype))
            model = model.to(device).eval()
            proc = AutoImageProcessor.from_pretrained(self.model_id)
            mean = torch.tensor(proc.image_mean, device=device, dtype=torch.float32).view(1, 3, 1, 1)
            std = torch.tensor(proc.image_std, device=device, dtype=torch.float32).view(1, 3, 1, 1)
            self._gpu = (model, {"proc": proc, "mean": mean, "std": std, "device": device})
        return self._gpu

    def _gpu_iter(self, images, groups, workers) -> Iterator[tuple[int, np.ndarray]]:
        import torch

        model, aux = self._gpu_model()
        device = aux["device"]
        pin = device.startswith("cuda")
        for (width, height), idxs in groups.items():
            target = dpt_resize_shape(aux["proc"], height, width)
            batches = [idxs[k:k + self.cfg.batch_size] for k in range(0, len(idxs), self.cfg.batch_size)]
            dataset = _image_dataset([images[i] for i in idxs], decode=True)
            local = {i: n for n, i in enumerate(idxs)}
            if workers > 0 and len(batches) > 1:
                from torch.utils.data import DataLoader

                loader = DataLoader(dataset, batch_sampler=[[local[i] for i in b] for b in batches],
                                    num_workers=workers, collate_fn=_stack_u8, pin_memory=pin,
                                    prefetch_factor=4)
                stream = zip(batches, loader)
            else:
                stream = ((b, _stack_u8([dataset[local[i]] for i in b])) for b in batches)
            pending = None
            for batch_idx, u8 in stream:
                maps = self._gpu_forward(model, aux, u8, target, (height, width))
                if pending is not None:  # emit the previous batch while this one computes
                    yield from _emit(*pending)
                pending = (batch_idx, maps)
            if pending is not None:
                yield from _emit(*pending)

    def _gpu_forward(self, model: Any, aux: dict, u8: Any, target: tuple[int, int], size: tuple[int, int]):
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            x = u8.to(aux["device"], non_blocking=True).permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=target, mode="bicubic", align_corners=False)
            x = ((x / 255.0 - aux["mean"]) / aux["std"]).to(model.dtype)
            pred = model(pixel_values=x).predicted_depth
            if pred.dim() == 3:
                pred = pred[:, None]
            pred = F.interpolate(pred.float(), size=size, mode="bicubic", align_corners=False)[:, 0]
            flat = pred.flatten(1)
            lo, hi = flat.amin(dim=1), flat.amax(dim=1)
            span = (hi - lo).clamp_min(1e-12)[:, None, None]
            out = 1.0 - (pred - lo[:, None, None]) / span
            out = torch.where((hi > lo)[:, None, None], out, torch.zeros_like(out))
            host = out.to(torch.float16)
            if host.is_cuda:
                buf = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
                buf.copy_(host, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
                return buf, event
            return host, None


PREPROCESS = ("auto", "gpu", "pipeline")


def _noop(_: int) -> None:
    return None


def _write_depth(arr: np.ndarray, npy: str, png: bool) -> None:
    from pathlib import Path

    from sif.depth.map import save_depth

    path = Path(npy)
    save_depth(arr, path, path.with_suffix(".png") if png else None)


def _emit(batch_idx: list[int], maps: Any) -> Iterator[tuple[int, np.ndarray]]:
    buf, event = maps
    if event is not None:
        event.synchronize()
    arr = buf.numpy()
    for k, i in enumerate(batch_idx):
        yield i, arr[k]


def dpt_resize_shape(proc: Any, height: int, width: int) -> tuple[int, int]:
    """(height, width) the DPT image processor resizes to (keep_aspect_ratio + ensure_multiple_of)."""
    size = getattr(proc, "size", None) or {}
    out_h, out_w = int(size.get("height", 518)), int(size.get("width", 518))
    multiple = int(getattr(proc, "ensure_multiple_of", 1) or 1)
    scale_h, scale_w = out_h / height, out_w / width
    if getattr(proc, "keep_aspect_ratio", False):
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h

    def constrain(value: float) -> int:
        x = int(round(value / multiple) * multiple)
        return max(x, multiple)

    return constrain(scale_h * height), constrain(scale_w * width)


def _image_dataset(items: list, decode: bool) -> Any:
    """A torch Dataset of images (PIL or paths) - the pipeline treats only real Datasets as streams - whose
    items are PIL images (decode=False, for the pipeline's own preprocessing) or HxWx3 uint8 tensors."""
    import torch

    class ImageDataset(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(items)

        def __getitem__(self, i: int) -> Any:
            item = items[i]
            if not isinstance(item, Image.Image):
                from sif.data.images import open_rgb

                item = open_rgb(item)
            elif item.mode != "RGB":
                item = item.convert("RGB")
            if not decode:
                return item
            return torch.from_numpy(np.asarray(item, dtype=np.uint8).copy())

    return ImageDataset()


def _stack_u8(items: list) -> Any:
    import torch

    return torch.stack(items)


def _size_groups(images: Sequence[Any]) -> dict[tuple[int, int], list[int]]:
    """Indices grouped by (width, height); paths are sized from the file header only."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        if isinstance(img, Image.Image):
            size = img.size
        else:
            with Image.open(img) as im:
                size = im.size
        groups.setdefault(size, []).append(i)
    return groups
