"""hydra/launcher=slurm without a cluster: the sbatch script submitit writes for a 2-node x 8-GPU GRPO job,
every rank's torch.distributed variables, and every rank landing in the same job folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.types import HydraContext
from hydra.utils import instantiate

from sif.sweeps.slurm_env import DIST_KEYS, distributed_env, export_distributed_env, first_host, master_port
from tests.sweeps._hydra import config_loader, load_multirun_config

NODES, GPUS = 2, 8
JOB = ["stage=grpo", "deepspeed=zero3", "model=qwen2_5_vl_7b", "stage.max_steps=10"]
SLURM_VARS = ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS",
              "SLURM_STEP_NUM_NODES", "SLURM_JOB_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_ID", "SLURM_JOB_NODELIST",
              "SLURM_STEP_NODELIST", "SUBMITIT_EXECUTOR", "SUBMITIT_LOCAL_GLOBALID", "SUBMITIT_LOCAL_LOCALID",
              "SUBMITIT_LOCAL_NTASKS", "SUBMITIT_LOCAL_JOB_ID", *DIST_KEYS)


@pytest.fixture
def clean_env(monkeypatch):
    """No launcher variables; whatever the code under test writes into os.environ is undone afterwards."""
    for key in SLURM_VARS:
        monkeypatch.setenv(key, "x")  # recorded as absent-before, so teardown removes what the code sets
        monkeypatch.delenv(key)
    return monkeypatch


def srun_task_env(rank: int, world: int = NODES * GPUS, job_id: str = "4242") -> dict[str, str]:
    return {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": job_id, "SLURM_PROCID": str(rank),
            "SLURM_LOCALID": str(rank % GPUS), "SLURM_NODEID": str(rank // GPUS), "SLURM_NTASKS": str(world),
            "SLURM_STEP_NUM_TASKS": str(world), "SLURM_STEP_NUM_NODES": str(NODES),
            "SLURM_JOB_NUM_NODES": str(NODES), "SLURM_JOB_NODELIST": "gpu[017-018]"}


# ---- the env mapping ---------------------------------------------------------------------------------
def test_distributed_env_from_an_srun_task():
    env = distributed_env(srun_task_env(11))
    assert env == {"RANK": "11", "LOCAL_RANK": "3", "WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8",
                   "MASTER_ADDR": "gpu017", "MASTER_PORT": str(master_port("4242"))}
    assert 20000 <= master_port("4242") <= 60000 and master_port("4242") != master_port("4243")


def test_distributed_env_outside_a_task_is_empty():
    assert distributed_env({}) == {}
    # sbatch's batch script has SLURM_PROCID=0 and SLURM_NTASKS but runs one process: not a task
    assert distributed_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "16", "SLURM_JOB_ID": "1"}) == {}


def test_distributed_env_submitit_local():
    env = distributed_env({"SUBMITIT_LOCAL_GLOBALID": "1", "SUBMITIT_LOCAL_LOCALID": "1",
                           "SUBMITIT_LOCAL_NTASKS": "2", "SUBMITIT_LOCAL_JOB_ID": "77"})
    assert (env["RANK"], env["WORLD_SIZE"], env["MASTER_ADDR"]) == ("1", "2", "127.0.0.1")


def test_a_local_task_inside_a_slurm_allocation_is_a_local_task(clean_env):
    from sif.runinfo import rank, world_size

    local = {"SUBMITIT_LOCAL_GLOBALID": "0", "SUBMITIT_LOCAL_LOCALID": "0", "SUBMITIT_LOCAL_NTASKS": "1"}
    env = distributed_env({**srun_task_env(3), **local})
    assert (env["RANK"], env["WORLD_SIZE"]) == ("0", "1")
    for key, value in {**srun_task_env(3), **local}.items():
        clean_env.setenv(key, value)
    assert (rank(), world_size()) == (0, 1)


def test_first_host_parses_slurm_node_lists():
    assert first_host("gpu[003-004,010],cpu7") == "gpu003"
    assert first_host("node12") == "node12"
    assert first_host("") == "127.0.0.1"


def test_export_overrides_inherited_ranks_but_keeps_a_set_master_port():
    env = {**srun_task_env(5), "RANK": "0", "WORLD_SIZE": "1", "MASTER_PORT": "29555"}
    export_distributed_env(env)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["MASTER_PORT"]) == ("5", "16", "5", "29555")
    one = {**srun_task_env(0, world=1)}
    assert export_distributed_env(one) == {} and "RANK" not in one  # a one-task job never looks distributed


def test_runinfo_rank_with_only_slurm_variables(clean_env):
    from sif.runinfo import is_main_process, rank, world_size

    assert (rank(), world_size()) == (0, 1)
    for key, value in srun_task_env(9).items():
        clean_env.setenv(key, value)
    assert (rank(), world_size(), is_main_process()) == (9, 16, False)
    clean_env.setenv("RANK", "3")  # torchrun's variables win where both exist
    clean_env.setenv("WORLD_SIZE", "4")
    assert (rank(), world_size()) == (3, 4)


def test_runinfo_ignores_the_batch_script_variables(clean_env):
    from sif.runinfo import rank, world_size

    clean_env.setenv("SLURM_PROCID", "0")
    clean_env.setenv("SLURM_NTASKS", "16")
    assert (rank(), world_size()) == (0, 1)


# ---- the sbatch script -------------------------------------------------------------------------------
def fake_slurm_bin(tmp_path: Path, monkeypatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "sbatch").write_text("#!/bin/sh\necho 'Submitted batch job 4242'\n")
    for tool in bindir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def record_task(cfg) -> dict:
    """The job function of these tests: where Hydra put this rank, and who it thinks it is."""
    from sif.runinfo import rank, world_size

    import logging

    logging.getLogger("sif.test").info("hello from rank %d", rank())
    return {"output_dir": HydraConfig.get().runtime.output_dir, "rank": rank(), "world_size": world_size(),
            "env": {k: os.environ.get(k) for k in DIST_KEYS}}


def task_overrides(tmp_path: Path) -> list[str]:
    """What the sweeper hands the launcher for the job: every non-hydra override of the command line."""
    return [f"paths.output_root={tmp_path / 'outputs'}", *JOB]


def slurm_launcher(tmp_path: Path, extra: list[str] = ()):
    loader = config_loader()
    overrides = ["hydra/launcher=slurm", f"hydra.launcher.nodes={NODES}", "hydra.launcher.partition=gpu",
                 "hydra.launcher.account=proj42", "hydra.job.name=launch", *extra, *task_overrides(tmp_path)]
    cfg = load_multirun_config(overrides, loader)
    from hydra._internal.callbacks import Callbacks

    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=HydraContext(config_loader=loader, callbacks=Callbacks(cfg)),
                   task_function=record_task, config=cfg)
    return launcher, cfg


def test_slurm_launcher_config_for_2_nodes_x_8_gpus(tmp_path, clean_env):
    _, cfg = slurm_launcher(tmp_path)
    lc = cfg.hydra.launcher
    assert "hydra_submitit_launcher" in lc._target_ and lc._target_.endswith("SlurmLauncher")
    assert (lc.nodes, lc.gpus_per_node, lc.tasks_per_node) == (2, 8, 8)
    assert lc.partition == "gpu" and lc.account == "proj42" and lc.timeout_min > 0 and lc.cpus_per_task > 0
    assert any("NCCL_NVLS_ENABLE=0" in line for line in lc.setup)


def test_sbatch_script_for_2_nodes_x_8_gpus(tmp_path, clean_env):
    fake_slurm_bin(tmp_path, clean_env)
    import submitit.slurm.slurm as slurm

    clean_env.setattr(slurm.SlurmJob, "results", lambda self: [None])  # no cluster to wait for
    launcher, cfg = slurm_launcher(tmp_path)
    launcher.launch([task_overrides(tmp_path)], initial_job_idx=0)
    sweep_dir = Path(str(cfg.hydra.sweep.dir))
    scripts = list((sweep_dir / ".submitit").rglob("*_submission.sh"))
    assert len(scripts) == 1, scripts
    text = scripts[0].read_text()
    for line in ("#SBATCH --nodes=2", "#SBATCH --gpus-per-node=8", "#SBATCH --ntasks-per-node=8",
                 "#SBATCH --partition=gpu", "#SBATCH --account=proj42", "#SBATCH --cpus-per-task=12",
                 f"#SBATCH --time={cfg.hydra.launcher.timeout_min}", "export NCCL_NVLS_ENABLE=0",
                 "export SUBMITIT_EXECUTOR=slurm"):
        assert line in text, (line, text)
    srun = next(line for line in text.splitlines() if line.startswith("srun "))
    assert "--unbuffered" in srun and "-m submitit.core._submit" in srun
    assert "torchrun" not in text  # one srun task per GPU, no torchrun inside (submitit#1764)
    setup_at, srun_at = text.index("export NCCL_NVLS_ENABLE=0"), text.index(srun)
    assert setup_at < srun_at
    assert list((sweep_dir / ".submitit").rglob("*_submitted.pkl"))  # the pickled job (launcher + config)


def test_every_rank_gets_the_same_job_folder_and_its_own_rank(tmp_path, clean_env):
    launcher, cfg = slurm_launcher(tmp_path)
    results = {}
    for rank in (1, 0, 7, 8, 15):  # a rank > 0 first: it must not need rank 0's files
        for key, value in srun_task_env(rank).items():
            clean_env.setenv(key, value)
        for key in DIST_KEYS:
            clean_env.delenv(key, raising=False)
        ret = launcher(task_overrides(tmp_path), "hydra.sweep.dir", 0, "job_id_for_0", Singleton.get_state())
        results[rank] = ret.return_value
        if rank == 1:
            log = Path(results[1]["output_dir"]) / "launch.log"
            assert not log.exists() or "hello from rank 1" not in log.read_text()
    folders = {r["output_dir"] for r in results.values()}
    assert len(folders) == 1
    folder = Path(folders.pop())
    assert folder.parent == Path(str(cfg.hydra.sweep.dir)).resolve()
    for rank, r in results.items():
        assert (r["rank"], r["world_size"]) == (rank, NODES * GPUS)
        assert r["env"]["LOCAL_RANK"] == str(rank % GPUS) and r["env"]["MASTER_ADDR"] == "gpu017"
    assert len({r["env"]["MASTER_PORT"] for r in results.values()}) == 1
    assert "hello from rank 0" in (folder / "launch.log").read_text()
    assert (folder / ".hydra" / "overrides.yaml").exists()
