"""Two processes on a CPU: `torchrun --nproc_per_node=2 launch.py stage=grpo model=tiny ...` over gloo.

Run A (2 steps, a checkpoint every step, a fresh cache) must leave exactly one run folder with one config
snapshot (config.yaml, command.txt, run_info.json and Hydra's .hydra/ from rank 0 only), one DONE marker and
summary, checkpoints with both ranks' RNG states, and a progress memory holding the sample ids of BOTH ranks;
the synthetic data cache and the tiny model are built by rank 0 alone (the other rank waits). Run B
(`stage.max_steps=4 stage.resume=<run A>`) continues from run A's checkpoint-2 on both ranks: their first
reward call sees global_step 2, and it ends at step 4.

What each rank did is recorded by the test-only `rank_probe` reward (weight 0) of
`tests/distributed/launch_with_toy.py`, which also registers the toy reward that gives the groups of the
random-init tiny model reward variance (see tests/stages/test_grpo.py). torchrun is started as
`python -m torch.distributed.run` on a free port; one OpenMP thread per process (CI has two cores).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sif.training.args import cuda_available
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("multiprocess_cpu"),
              pytest.mark.skipif(cuda_available(), reason="checks the CPU path (gloo); with CUDA the ranks use GPUs")]

SCRIPT = ROOT / "tests" / "distributed" / "launch_with_toy.py"
NPROC = 2
# 4 completions per rank = one whole group of num_generations=4 per rank: 2 prompts per step, one per rank
ARGS = ["stage=grpo", "model=tiny", "dataset=synth", "dataset.num_samples=16", "stage.per_device_train_batch_size=4",
        "stage.num_generations=4", "stage.max_completion_length=16", "model.max_pixels=12544",
        "stage.save_steps=1", "stage.save_completions_every=0", "+reward.weights.toy_symbol_share=1.0",
        "+reward.weights.rank_probe=0.0"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun(args: list[str], cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={NPROC}", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", str(SCRIPT), *args]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks
        out, _ = proc.communicate()
        raise AssertionError(f"torchrun timed out after {timeout} s:\n{out[-6000:]}")
    if proc.returncode != 0:
        raise AssertionError(f"torchrun {' '.join(args)} failed ({proc.returncode}):\n{out[-8000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def probe(folder: Path) -> dict[int, list[dict]]:
    """rank -> its rank_probe records (one per reward call, i.e. per step)."""
    return {r: [json.loads(x) for x in (folder / f"rank{r}.jsonl").read_text().splitlines()] for r in range(NPROC)}


def run_folders(cwd: Path) -> list[Path]:
    return sorted(p for p in (cwd / "outputs").iterdir())


def train_steps(state: dict) -> list[int]:
    return [h["step"] for h in state["log_history"] if "reward" in h]


@pytest.fixture
def env(tmp_path) -> dict:
    keep = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT", "LOCAL_WORLD_SIZE")}
    return {**keep, "PYTHONPATH": str(ROOT), "SIF_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "offline"}


def test_torchrun_two_cpu_processes_one_run_folder_and_resume(tmp_path, env):
    cwd = tmp_path / "work"
    cwd.mkdir()
    started = time.time()

    # ---- run A: 2 steps, checkpoint-1 and checkpoint-2, in a fresh cache -------------------------------------
    probe_a = tmp_path / "probe_a"
    probe_a.mkdir()
    out_a = torchrun([*ARGS, "stage.max_steps=2"], cwd, {**env, "SIF_TEST_PROBE_DIR": str(probe_a)}).stdout
    time_a = time.time() - started
    folders = run_folders(cwd)
    assert len(folders) == 1 and folders[0].name.startswith("grpo-"), folders  # ONE run folder for both ranks
    run_a = folders[0]

    # one snapshot, written by rank 0: no per-rank copies, Hydra's .hydra/ once, one DONE and summary
    names = {p.name for p in run_a.iterdir()}
    assert {"config.yaml", "command.txt", "run_info.json", ".hydra", "launch.log", "summary.json", "DONE",
            "checkpoints", "final", "metrics.jsonl"} <= names, names
    assert not [n for n in names if "rank" in n.lower()], names
    assert sorted(p.name for p in (run_a / ".hydra").iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml"]
    info = read_json(run_a / "run_info.json")
    assert info["world_size"] == NPROC and "stage.max_steps=2" in info["overrides"]
    assert len((run_a / "DONE").read_text().splitlines()) == 1
    assert (run_a / "launch.log").read_text().count("grpo: 16 samples") == 1  # rank 1 does not write the log
    # the synthetic cache and the tiny model were built once, by rank 0 (the other rank waited and found them)
    assert out_a.count("generating the synthetic train split") == 1, out_a[-4000:]
    cache = Path(env["SIF_CACHE_DIR"])
    assert len(list((cache / "data").iterdir())) == 1 and len(list((cache / "models").iterdir())) == 1
    assert not [p for p in cache.rglob(".*") if p.is_dir()]  # no temporary build folder left behind

    summary = read_json(run_a / "summary.json")
    assert summary["global_step"] == 2 and summary["resumed_from"] is None
    assert summary["samples_used"] == 16
    state = read_json(run_a / "final" / "trainer_state.json")
    assert train_steps(state) == [1, 2]
    assert any(h["rewards/toy_symbol_share/std"] > 0 for h in state["log_history"] if "reward" in h)
    metrics = [json.loads(x) for x in (run_a / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "reward" in m] == [1, 2]  # written once (rank 0), not per rank

    # both ranks trained, each scoring its own prompt's group at every step
    seen = probe(probe_a)
    for r in range(NPROC):
        assert [rec["step"] for rec in seen[r]] == [0, 1] and {rec["world_size"] for rec in seen[r]} == {NPROC}
        assert all(len(rec["ids"]) == 4 and len(set(rec["ids"])) == 1 for rec in seen[r])
    ids = {r: {i for rec in seen[r] for i in rec["ids"]} for r in range(NPROC)}
    assert ids[0] - ids[1] and ids[1] - ids[0], ids  # some samples were seen by one rank only

    # checkpoints: both ranks' RNG states, our state, and the progress memory merged across the ranks
    for step in (1, 2):
        ckpt = run_a / "checkpoints" / f"checkpoint-{step}"
        assert {"trainer_state.json", "rng_state_0.pth", "rng_state_1.pth", "curriculum_state.json",
                "progress_memory.json", "model.safetensors", "optimizer.pt"} <= {p.name for p in ckpt.iterdir()}
        memory = read_json(ckpt / "progress_memory.json")["entries"]
        step_ids = {i for r in range(NPROC) for rec in seen[r] if rec["step"] < step for i in rec["ids"]}
        assert set(memory) == step_ids, (memory, seen)
        assert all(e["n"] == 4 for e in memory.values())  # a group mean over its 4 completions
    saved_memory = read_json(run_a / "checkpoints" / "checkpoint-2" / "progress_memory.json")
    assert set(saved_memory["entries"]) == ids[0] | ids[1]

    # ---- run B: the same run continued to step 4 from run A's checkpoint-2 ----------------------------------
    probe_b = tmp_path / "probe_b"
    probe_b.mkdir()
    out_b = torchrun([*ARGS, "stage.max_steps=4", f"stage.resume={run_a}"], cwd,
                     {**env, "SIF_TEST_PROBE_DIR": str(probe_b)}).stdout
    elapsed = time.time() - started
    print(f"torchrun x{NPROC} gloo: run A (2 steps, fresh cache) {time_a:.1f} s, run B (resume 2 -> 4) "
          f"{elapsed - time_a:.1f} s, {elapsed:.1f} s in all")
    assert "generating the synthetic" not in out_b
    folders = run_folders(cwd)
    assert len(folders) == 2, folders
    run_b = next(p for p in folders if p != run_a)
    ckpt2 = run_a / "checkpoints" / "checkpoint-2"
    resumed = read_json(run_b / "resumed_from.json")
    assert resumed["checkpoint"] == str(ckpt2) and resumed["found"] == {"curriculum": True, "progress_memory": True}
    assert resumed["progress_memory"] == saved_memory
    seen_b = probe(probe_b)
    for r in range(NPROC):  # both ranks continued at step 2 (their first call sees global_step 2)
        assert [rec["step"] for rec in seen_b[r]] == [2, 3], seen_b[r]
    summary_b = read_json(run_b / "summary.json")
    assert summary_b["global_step"] == 4 and summary_b["resumed_from"] == str(ckpt2)
    assert summary_b["restored"] == {"curriculum": True, "progress_memory": True}
    assert train_steps(read_json(run_b / "final" / "trainer_state.json")) == [1, 2, 3, 4]
    metrics_b = [json.loads(x) for x in (run_b / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics_b if "reward" in m] == [3, 4]
    final_memory = read_json(run_b / "final" / "progress_memory.json")["entries"]
    ids_b = {i for r in range(NPROC) for rec in seen_b[r] for i in rec["ids"]}
    assert set(final_memory) == set(saved_memory["entries"]) | ids_b
    assert (run_b / "DONE").exists() and not (run_a / "checkpoints" / "checkpoint-3").exists()


def test_accelerate_launch_two_cpu_processes(tmp_path, env):
    """`accelerate launch --multi_gpu --num_processes 2` on a machine without CUDA: accelerate starts the ranks
    through torch.distributed.run and the trainer falls back to gloo on the CPU, as under torchrun. (Plain
    `accelerate launch --cpu --num_processes 2` starts ONE process: accelerate's multi-CPU launch needs an MPI
    hostfile; see docs/SCALING.md.)"""
    cwd = tmp_path / "work"
    cwd.mkdir()
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", f"--num_processes={NPROC}",
           "--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no", f"--main_process_port={free_port()}",
           str(SCRIPT), *ARGS, "stage.max_steps=1"]
    started = time.time()
    proc = subprocess.run(cmd, cwd=cwd, env={**env, "SIF_TEST_PROBE_DIR": str(probe_dir)}, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"accelerate launch failed ({proc.returncode}):\n{proc.stderr[-8000:]}"
    print(f"accelerate launch x{NPROC} on CPU (gloo), 1 step: {time.time() - started:.1f} s")
    folders = run_folders(cwd)
    assert len(folders) == 1, folders
    run = folders[0]
    assert read_json(run / "run_info.json")["world_size"] == NPROC
    assert read_json(run / "summary.json")["global_step"] == 1
    ckpt = run / "checkpoints" / "checkpoint-1"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in ckpt.iterdir()}
    seen = probe(probe_dir)
    assert all([rec["step"] for rec in seen[r]] == [0] for r in range(NPROC))
    ids = {r: {i for rec in seen[r] for i in rec["ids"]} for r in range(NPROC)}
    assert set(read_json(ckpt / "progress_memory.json")["entries"]) == ids[0] | ids[1]
