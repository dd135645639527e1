"""stage=sft end to end through launch.py: the loss falls, resume continues the same run, bad input is reported.

The subprocesses run with one OpenMP thread: CI runs two test workers on two cores, and a tiny model's
microsecond-sized ops slow down tenfold when two multi-threaded processes spin against each other.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import compose, run_launch

TINY_SFT = ["stage=sft", "model=tiny", "dataset=synth"]


@pytest.fixture(scope="module")
def env(shared_cache) -> dict:
    """Subprocess environment, with the tiny model and the synthetic train split already in the shared cache
    (built here, so the timed runs measure the stage, not the one-off cache fill)."""
    from sif.generate.dataset_cache import samples_path
    from sif.models.factory import resolve_model_path

    cfg = compose([*TINY_SFT, f"paths.cache_dir={shared_cache}"])
    resolve_model_path(cfg.model, shared_cache)
    samples_path(cfg, "train")
    return {"SIF_CACHE_DIR": str(shared_cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run_dir(cwd: Path, name: str | None = None) -> Path:
    if name:
        return cwd / "outputs" / name
    dirs = [p for p in (cwd / "outputs").iterdir() if p.name.startswith("sft-")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _state(folder: Path) -> dict:
    return json.loads((folder / "trainer_state.json").read_text())


def _losses(state: dict) -> dict[int, float]:
    return {rec["step"]: rec["loss"] for rec in state["log_history"] if "loss" in rec}


@pytest.mark.slow
def test_sft_30_steps_on_cpu_loss_falls(tmp_path, env):
    started = time.time()
    run_launch([*TINY_SFT, "stage.max_steps=30"], cwd=tmp_path, env=env)
    elapsed = time.time() - started
    run = _run_dir(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    losses = list(_losses(_state(run / "final")).values())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"sft 30 steps: {elapsed:.1f} s wall; loss first5 {first:.4f} -> last5 {last:.4f}; "
          f"eval_loss {summary['eval_loss']:.4f}; {summary['tokens_per_s']} tokens/s")
    assert len(losses) == 30 and last < first
    assert summary["global_step"] == 30 and summary["samples_skipped"] == 0
    assert summary["samples_train"] + summary["samples_eval"] == summary["samples_used"] == 200
    assert summary["checkpoint"] == str(run / "final") and summary["merged_dir"] is None  # tiny: full fine-tune
    assert summary["objective"] == -summary["eval_loss"]
    assert summary["tokens_per_s"] > 0 and summary["train_runtime"] > 0
    assert summary["train_loss_first"] == losses[0] and summary["train_loss_last"] == losses[-1]
    assert (run / "checkpoints" / "checkpoint-30" / "trainer_state.json").is_file()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert sum("loss" in m for m in metrics) == 30 and any("eval_loss" in m for m in metrics)
    assert (run / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "DONE").exists()
    # the final folder is a checkpoint the next stage loads through the ordinary factory
    from sif.models.factory import load_model_and_processor

    cfg = compose(TINY_SFT)
    model, _ = load_model_and_processor(cfg.model, Path(env["SIF_CACHE_DIR"]), path=summary["checkpoint"])
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"


# Constant LR, so an N/2-step run is the first half of the N-step run (a cosine schedule depends on max_steps).
RESUME = [*TINY_SFT, "stage.save_steps=4", "stage.eval_fraction=0", "stage.lr_scheduler_type=constant",
          "stage.warmup_ratio=0", "stage.learning_rate=1e-3"]
LOSS_TOLERANCE = 1e-5  # measured: the resumed and uninterrupted losses are bitwise equal on CPU fp32


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, env) -> Path:
    """An uninterrupted 8-step run (checkpoints at steps 4 and 8)."""
    cwd = tmp_path_factory.mktemp("sft-reference")
    run_launch([*RESUME, "stage.max_steps=8", "run_name=full"], cwd=cwd, env=env)
    return _run_dir(cwd, "full")


def _assert_continues(reference: Path, resumed_run: Path) -> None:
    """The resumed run went on from checkpoint-4: steps 5-8 saw the same batches and gave the same losses."""
    full_state, resumed_state = _state(reference / "final"), _state(resumed_run / "final")
    summary = json.loads((resumed_run / "summary.json").read_text())
    assert summary["resumed_from"] == str(resumed_run / "checkpoints" / "checkpoint-4")
    assert resumed_state["global_step"] == 8 == summary["global_step"]
    full, resumed = _losses(full_state), _losses(resumed_state)
    assert sorted(resumed) == list(range(1, 9))  # steps 1-4 from the checkpoint's history, 5-8 trained now
    for step in range(5, 9):
        assert abs(full[step] - resumed[step]) < LOSS_TOLERANCE, (step, full[step], resumed[step])
    # same batches: each step's non-pad token count is equal (TRL's num_tokens restarts at 0 in a new process)
    metrics = [json.loads(line) for line in (resumed_run / "metrics.jsonl").read_text().splitlines()]
    session = [m for m in metrics if "loss" in m][-4:]
    assert [m["step"] for m in session] == [5, 6, 7, 8]  # the resumed process logged from step 5 on
    counts = [session[0]["num_tokens"]] + [b["num_tokens"] - a["num_tokens"] for a, b in zip(session, session[1:])]
    full_tokens = {r["step"]: r["num_tokens"] for r in full_state["log_history"] if "loss" in r}
    assert counts == [full_tokens[s] - full_tokens[s - 1] for s in range(5, 9)]
    print("resume: losses 5-8 uninterrupted", [round(full[s], 6) for s in range(5, 9)],
          "resumed", [round(resumed[s], 6) for s in range(5, 9)])


@pytest.mark.slow
@pytest.mark.xdist_group("sft_resume")
def test_half_run_then_full_run_continues_the_same_run(tmp_path, env, reference_run):
    run_launch([*RESUME, "stage.max_steps=4", "run_name=resumed"], cwd=tmp_path, env=env)
    half = _run_dir(tmp_path, "resumed")
    assert _state(half / "final")["global_step"] == 4
    run_launch([*RESUME, "stage.max_steps=8", "run_name=resumed", "stage.force=true"], cwd=tmp_path, env=env)
    _assert_continues(reference_run, half)


@pytest.mark.slow
@pytest.mark.xdist_group("sft_resume")
def test_rerunning_a_killed_run_resumes_from_its_last_checkpoint(tmp_path, env, reference_run):
    killed = tmp_path / "outputs" / "full"
    shutil.copytree(reference_run, killed)
    for name in ("final", "DONE", "summary.json", "checkpoints/checkpoint-8"):  # as if killed during step 6
        path = killed / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    lines = (killed / "metrics.jsonl").read_text().splitlines()[:5]
    (killed / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 6, "loss": 1')  # ends in a torn line
    run_launch([*RESUME, "stage.max_steps=8", "run_name=full"], cwd=tmp_path, env=env)  # the same command again
    _assert_continues(reference_run, killed)


@pytest.mark.slow
def test_lora_sft_hands_on_a_merged_standalone_checkpoint(tmp_path, env):
    run_launch([*TINY_SFT, "model.lora.enabled=true", "stage.max_steps=3", "stage.eval_fraction=0",
                "stage.learning_rate=1e-2"], cwd=tmp_path, env=env)
    run = _run_dir(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["lora"] and summary["checkpoint"] == str(run / "merged") == summary["merged_dir"]
    assert (run / "final" / "adapter_config.json").is_file() and not (run / "final" / "model.safetensors").exists()
    assert summary["eval_loss"] is None and summary["objective"] == -summary["train_loss_last"]
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    merged = AutoModelForImageTextToText.from_pretrained(summary["checkpoint"]).eval()  # plain transformers
    base = json.loads((run / "merged" / "MERGED_FROM.json").read_text())["base"]
    adapted = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base), str(run / "final")).eval()
    ids = torch.tensor([[5, 17, 42, 99, 7, 300]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, adapted(input_ids=ids).logits, atol=1e-5)


def _bad_input_dataset(tmp_path: Path, shared_cache: Path) -> tuple[list[str], list[str]]:
    """A samples.jsonl of 6 synthetic samples (images in the shared cache): one image missing, one chain broken."""
    cfg = compose([*TINY_SFT, f"paths.cache_dir={shared_cache}"])
    from sif.generate.dataset_cache import samples_path

    source = samples_path(cfg, "train")
    records = [json.loads(line) for line in source.read_text().splitlines()[:6]]
    records[1]["image"] = "images/does-not-exist.png"
    records[3]["chain"] = records[3]["chain"].replace("</think>", "")
    path = tmp_path / "bad" / "samples.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    args = [*TINY_SFT, "dataset=jsonl", f"dataset.path={path}", f"dataset.image_root={source.parent}",
            "stage.max_steps=2", "stage.eval_fraction=0"]
    return args, [records[1]["id"], records[3]["id"]]


@pytest.mark.slow
def test_bad_samples_are_skipped_and_counted_by_id(tmp_path, env, shared_cache):
    args, (missing, broken) = _bad_input_dataset(tmp_path, shared_cache)
    run_launch(args, cwd=tmp_path, env=env)
    summary = json.loads((_run_dir(tmp_path) / "summary.json").read_text())
    assert summary["skipped_by_reason"] == {"chain_invalid": 1, "image_missing": 1}
    assert summary["skipped_ids"] == {"chain_invalid": [broken], "image_missing": [missing]}
    assert summary["samples_used"] == 4 and summary["samples_skipped"] == 2 and summary["global_step"] == 2
    skipped = [json.loads(line) for line in (_run_dir(tmp_path) / "skipped.jsonl").read_text().splitlines()]
    assert {s["id"] for s in skipped} == {missing, broken}


@pytest.mark.slow
def test_strict_stops_before_training_and_lists_the_bad_ids(tmp_path, env, shared_cache):
    args, (missing, broken) = _bad_input_dataset(tmp_path, shared_cache)
    proc = run_launch([*args, "strict=true"], cwd=tmp_path, env=env, check=False)
    assert proc.returncode != 0
    assert "BadInputError" in proc.stderr and "2 bad sample(s)" in proc.stderr
    assert f"{missing}: image_missing" in proc.stderr and f"{broken}: chain_invalid" in proc.stderr
    run = _run_dir(tmp_path)
    assert not (run / "checkpoints").exists() and not (run / "metrics.jsonl").exists()
    assert not (run / "DONE").exists()
