"""Dataset, depth, teacher and judge groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sif.config.common import LLMClientConfig


@dataclass
class DatasetConfig:
    name: str = "synth"
    source: str = "synth"  # synth | viscot | tallyqa | sif50k | jsonl (our own sample schema)
    path: Optional[str] = None  # input file for importers, or prepared samples.jsonl for training/eval
    image_root: Optional[str] = None  # image paths are resolved under this folder
    allow_path_escape: bool = False  # refuse '..' escapes out of image_root unless set
    num_samples: int = 200  # training scenes (synth) or max items imported (others; <=0 = all)
    eval_samples: int = 100  # held-out synthetic scenes (a disjoint seed stream)
    split: str = "train"  # train | eval
    image_width: int = 320
    image_height: int = 240
    min_objects: int = 2
    max_objects: int = 5
    mc_fraction: float = 0.5  # share of questions asked in multiple-choice form
    object_scale: float = 1.0  # synthetic object sizes x this (dataset=synth_hires: small objects, large pictures)
    question_types: list[str] = field(
        default_factory=lambda: ["relative_depth", "left_right", "counting", "attribute"]
    )
    max_pixels: int = 50_000_000  # decompression-bomb guard for input images


@dataclass
class DepthConfig:
    name: str = "ground_truth"  # ground_truth | depth_anything_v2
    model: Optional[str] = None  # hub id or local path (depth_anything_v2)
    size: str = "small"  # small | base | large (picks the hub id when model is None)
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    dtype: str = "float32"
    batch_size: int = 8
    num_workers: int = 0
    # where resize/normalise run: pipeline (transformers' CPU preprocessing, in DataLoader workers) | gpu (decode in
    # workers, resize/normalise/post-resize on the model's device) | auto (gpu when the device is a GPU)
    preprocess: str = "auto"


@dataclass
class TeacherConfig(LLMClientConfig):
    name: str = "template"  # template (offline, deterministic) | openai
    max_attempts: int = 3  # re-asks when a reply breaks the grammar or the given boxes
    tolerance: float = 0.001  # emitted boxes/depths must match the given ones within this


@dataclass
class JudgeConfig(LLMClientConfig):
    name: str = "none"  # none | openai
    fallback_score: float = 0.0  # used (and counted) when the judge cannot give a score
