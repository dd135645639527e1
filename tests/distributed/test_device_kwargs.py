"""The CPU multi-process fallback of the trainers' arguments (sif.training.args.device_kwargs): DDP over gloo
when a launcher started several ranks on a machine without CUDA, nothing otherwise."""

from __future__ import annotations

import pytest

import sif.training.args as targs
from tests.conftest import compose

DIST_VARS = ("RANK", "WORLD_SIZE", "SUBMITIT_LOCAL_GLOBALID", "SUBMITIT_LOCAL_NTASKS", "SLURM_PROCID",
             "SLURM_STEP_NUM_TASKS")


@pytest.fixture
def no_launcher(monkeypatch):
    for name in DIST_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("cuda", [False, True])
def test_single_process_is_left_alone(no_launcher, cuda):
    no_launcher.setattr(targs, "cuda_available", lambda: cuda)
    assert targs.device_kwargs() == {}
    no_launcher.setenv("RANK", "0")
    no_launcher.setenv("WORLD_SIZE", "1")
    assert targs.device_kwargs() == {}


def test_several_cpu_ranks_get_gloo(no_launcher, tmp_path):
    no_launcher.setattr(targs, "cuda_available", lambda: False)
    no_launcher.setenv("RANK", "1")
    no_launcher.setenv("WORLD_SIZE", "2")
    assert targs.device_kwargs() == {"use_cpu": True, "ddp_backend": "gloo"}
    cfg = compose(["stage=grpo"])
    kw = targs.training_kwargs(cfg.stage, cfg, tmp_path / "run")
    assert kw["use_cpu"] is True and kw["ddp_backend"] == "gloo"


def test_several_cuda_ranks_keep_the_trainer_defaults(no_launcher):
    no_launcher.setattr(targs, "cuda_available", lambda: True)
    no_launcher.setenv("RANK", "0")
    no_launcher.setenv("WORLD_SIZE", "8")
    assert targs.device_kwargs() == {}
