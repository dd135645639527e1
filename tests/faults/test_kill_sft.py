"""stage=sft (tiny model, synthetic scenes) SIGKILLed at 5 seeded random points of one run - alternately as
checkpoint-k appears (mid-write) and a random moment after checkpoint-k is complete (mid-step) - each kill
followed by the same command, which resumes and runs on until the next kill point; the last one finishes.

The resumed run must continue from the newest complete checkpoint at the right step and end like the
uninterrupted run: per-step loss, learning rate (the cosine schedule with warm-up: scheduler restored) and
grad norm within TOLERANCE, final weights within TOLERANCE (a learning rate of 1e-3 makes Adam's moments
matter: optimizer restored), and the same batches (RNG and sampler restored; a different batch would change
the loss). tests/stages/test_sft.py covers a planned stop-and-continue; this covers kills.
"""

from __future__ import annotations

import pytest

from tests.conftest import compose
from tests.faults._training import TrainWorld, kill_chain
from tests.faults.conftest import SEED

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults_sft")]

MAX_STEPS = 10
KILLS = 5
ARGS = ["stage=sft", "model=tiny", "dataset=synth", f"stage.max_steps={MAX_STEPS}", "stage.save_steps=1",
        "stage.save_total_limit=2", "stage.eval_fraction=0", "stage.learning_rate=1e-3", "stage.warmup_ratio=0.3",
        "stage.lr_scheduler_type=cosine", "stage.per_device_train_batch_size=2"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_cache) -> TrainWorld:
    from sif.generate.dataset_cache import samples_path
    from sif.models.factory import resolve_model_path

    cfg = compose([*ARGS, f"paths.cache_dir={shared_cache}"])
    resolve_model_path(cfg.model, shared_cache)
    samples_path(cfg, "train")
    w = TrainWorld("sft", ARGS, {"SIF_CACHE_DIR": str(shared_cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    w.make_reference(tmp_path_factory.mktemp("sft-ref"))
    return w


def test_sft_killed_five_times_then_resumed_matches_uninterrupted(world, tmp_path):
    kill_chain(world, tmp_path, SEED * 1000 + 700, KILLS, MAX_STEPS)
