"""stage=grpo (tiny model, synthetic scenes, curriculum=linear, the paper's reward set plus the test-only toy
reward that gives groups variance) SIGKILLed at 5 seeded random points of one run - alternately as
checkpoint-k appears (mid-write) and a random moment after checkpoint-k is complete (mid-step) - each kill
followed by the same command, which resumes and runs on until the next kill point; the last one finishes.

Every session must resume from the newest complete checkpoint with the curriculum state and the progress
memory saved in it (resumed_from.json), and the finished run must equal the uninterrupted one: per-step
loss, learning rate, grad norm, KL, every reward's mean and std, the curriculum weights and completion
lengths within TOLERANCE (sampling RNG restored: other completions would change the rewards), final
weights within TOLERANCE, and the same final progress memory. tests/stages/test_grpo.py kills once at a
planned hang; this kills at random points.
"""

from __future__ import annotations

import pytest

from tests.conftest import compose
from tests.faults._training import TrainWorld, kill_chain, read_json
from tests.faults.conftest import SEED
from tests.grpo.toy_rewards import NAME as TOY
from tests.stages.test_grpo import LAUNCH_WITH_TOY

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("faults_grpo")]

MAX_STEPS = 8
KILLS = 5
ARGS = ["stage=grpo", "model=tiny", "dataset=synth", f"stage.max_steps={MAX_STEPS}", "stage.save_steps=1",
        "stage.save_total_limit=2", "stage.max_completion_length=16", "model.max_pixels=12544",
        "curriculum=linear", f"+reward.weights.{TOY}=1.0", "stage.learning_rate=1e-3"]
COMPARED = ("loss", "learning_rate", "grad_norm", "kl", "reward", "rewards/", "curriculum/", "completions/")


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_cache) -> TrainWorld:
    from sif.generate.dataset_cache import samples_path
    from sif.models.factory import resolve_model_path

    cfg = compose([*ARGS[:-2], f"paths.cache_dir={shared_cache}"])
    resolve_model_path(cfg.model, shared_cache)
    samples_path(cfg, "train")
    w = TrainWorld("grpo", ARGS, {"SIF_CACHE_DIR": str(shared_cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
                   python_code=LAUNCH_WITH_TOY, compared=COMPARED)
    w.make_reference(tmp_path_factory.mktemp("grpo-ref"))
    return w


def restored_state(run, newest, saved) -> bool:
    """resumed_from.json: the checkpoint resumed and the curriculum / progress memory loaded from it."""
    if newest is None:
        return not (run / "resumed_from.json").exists() or read_json(run / "resumed_from.json")["checkpoint"] is None
    info = read_json(run / "resumed_from.json")
    return (info["checkpoint"] == str(newest) and info["found"] == {"curriculum": True, "progress_memory": True}
            and info["curriculum"] == saved["curriculum_state.json"]
            and info["progress_memory"] == saved["progress_memory.json"])


def test_grpo_killed_five_times_then_resumed_matches_uninterrupted(world, tmp_path):
    kills = kill_chain(world, tmp_path, SEED * 1000 + 900, KILLS, MAX_STEPS, check_resume=restored_state)
    run = world.run_dir(tmp_path)
    assert read_json(run / "final" / "progress_memory.json") == read_json(world.reference / "final" / "progress_memory.json")
    assert all(k["saved"] for k in kills if k["newest"] is not None)  # every complete checkpoint held our state
    logs = [h for h in read_json(run / "final" / "trainer_state.json")["log_history"] if "reward" in h]
    assert any(h[f"rewards/{TOY}/std"] > 0 for h in logs)  # the compared rewards are not all zero
