"""One schema per stage. `name` selects the registered stage class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from sif.config.enums import ImageInputs


@dataclass
class StageConfig:
    name: str = "generate"
    force: bool = False  # re-run even when the run folder says the stage finished


@dataclass
class GenerateStageConfig(StageConfig):
    name: str = "generate"
    limit: Optional[int] = None  # process at most this many samples (None = all)
    distractor_prob: float = 0.5  # reverse expansion: chance of a distractor-and-correction step
    expansion_steps: int = 2  # intermediate expanded frames between the full image and the target
    num_workers: int = 1  # processes for scene rendering
    batch_size: Optional[int] = None  # items per depth + teacher batch (every batch is on disk before the
    # next starts); None: depth.batch_size for the template teacher, 32 for API teachers
    write_depth_png: bool = True
    histogram: bool = True


@dataclass
class TrainStageConfig(StageConfig):
    """What sft and grpo share: HF TrainingArguments that we pass through, and resume."""

    max_steps: int = -1
    num_train_epochs: float = 1.0
    learning_rate: float = 1e-4
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_train_batch_size: int = 2
    gradient_accumulation_steps: int = 1
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: Optional[int] = 3
    bf16: bool = False
    fp16: bool = False
    dataloader_num_workers: int = 0
    image_inputs: ImageInputs = ImageInputs["rgb+depth"]  # rgb+depth | rgb | blank (the blind control; sif.views)
    prompt: str = "sif"  # sif (one wording everywhere) | paper (the original's per-phase wording; sif/prompt.py)
    resume: str = "auto"  # auto | never | <checkpoint path>
    init_from: Optional[str] = None  # checkpoint to start from (e.g. the sft output); default: model group


@dataclass
class SFTStageConfig(TrainStageConfig):
    name: str = "sft"
    max_length: int = 2048  # cutoff in tokens, image tokens included
    eval_fraction: float = 0.1
    eval_steps: int = 50
    per_device_eval_batch_size: int = 2
    merge_lora: bool = True  # write a merged standalone checkpoint at the end
    zoom: bool = False  # the multi-turn zoom format: crop turns after the chain's areas (sif/zoom/sft.py)


@dataclass
class ProbeStageConfig(TrainStageConfig):
    """The grounding probe (sif/stages/probe.py): "Where is the <object>?" -> its box, on synthetic scenes of the
    dataset group's size, scored on held-out scenes beside the mean-box prior."""

    name: str = "probe"
    max_steps: int = 1000
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.02
    per_device_train_batch_size: int = 16
    save_steps: int = 500
    image_inputs: ImageInputs = ImageInputs["rgb"]  # rgb | blank (the blind control)
    image_width: Optional[int] = None  # scene size; None: the dataset group's
    image_height: Optional[int] = None
    min_objects: int = 1  # objects per scene: 1 asks for position alone; more asks to bind the name too
    max_objects: int = 1
    question_first: bool = False  # the question before the picture in the user turn
    train_scenes: int = 0  # 0: a fresh scene for every training example; else cycle this many
    held_out: int = 200
    prior_scenes: int = 2000  # training scenes whose mean box is the prior
    eval_batch_size: int = 50
    max_new_tokens: int = 32
    max_length: int = 1024


@dataclass
class GRPOStageConfig(TrainStageConfig):
    name: str = "grpo"
    learning_rate: float = 1e-5
    lr_scheduler_type: str = "linear"
    num_generations: int = 4
    max_completion_length: int = 640
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off (TRL's default); the original sampled with transformers' default 50
    beta: float = 0.04
    epsilon: float = 0.2
    loss_type: str = "grpo"
    scale_rewards: str = "group"
    num_iterations: int = 1
    save_completions_every: int = 10  # steps; a few completions as text and as images with areas drawn
    num_completions_to_save: int = 4
    step_split: bool = False  # split/<part>_s metrics: where each step's time goes (sif/grpo/split.py)


@dataclass
class EvalStageConfig(StageConfig):
    name: str = "eval"
    checkpoint: Optional[str] = None  # default: the model group
    limit: Optional[int] = None
    html: bool = True
    max_samples_in_html: int = 200
    # image-blind control rows beside the model (benchmark=synth; sif/eval/controls.py): chance, question-only
    # prior, majority answer, constant-box prior, and the blind-control arm when its results are given
    controls: bool = True
    controls_train: Optional[str] = None  # the training samples.jsonl (default: dataset.path or the synthetic cache)
    blind_results: Optional[str] = None  # a blind arm's eval folder or results.json (stage=pipeline fills it in)


@dataclass
class InferStageConfig(StageConfig):
    name: str = "infer"
    image: Optional[str] = None
    question: str = ""
    depth: Optional[str] = None  # a depth .npy; computed with the depth group when absent
    checkpoint: Optional[str] = None


@dataclass
class ExportStageConfig(StageConfig):
    name: str = "export"
    checkpoint: Optional[str] = None  # adapter (merged into its base), checkpoint, run folder or hub id


@dataclass
class CompareStageConfig(StageConfig):
    name: str = "compare"
    runs: list[str] = field(default_factory=list)  # eval run folders (or globs)
    metric: str = "accuracy"


@dataclass
class PipelineStageConfig(StageConfig):
    """generate -> sft -> grpo -> eval in one run folder (one sub-folder per step, each resumable).

    Per-step settings go in the step's dict (merged over that stage's defaults), e.g.
    `stage.sft={max_steps: 2000, learning_rate: 3e-4}` or `+stage.grpo.beta=0.0`."""

    name: str = "pipeline"
    # generate | probe (grounding warm-up) | sft | grpo | blind (the blind-control arm: the training steps again
    # on blank pictures) | eval
    steps: list[str] = field(default_factory=lambda: ["generate", "sft", "grpo", "eval"])
    sft_max_steps: int = 30
    grpo_max_steps: int = 10
    generate: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    sft: dict[str, Any] = field(default_factory=dict)
    grpo: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
