"""GRPO step time: our grpo stage with rollout=hf_fast vs a plain TRL GRPOTrainer script, IN THE SAME GPU RUN.

Both: Qwen2.5-VL-3B ARCHITECTURE (random init, saved once as a from_pretrained folder, loaded by both in bf16),
the same synthetic samples at 448x448 (RGB + depth colour image in THE prompt), LoRA r64 on the language
model, gradient checkpointing, beta 0.04, loss grpo, 1 prompt x 8 generations x 256 new tokens per step,
temperature 1. With --shared (default on) an arm runs our stage with `rollout.generation_weights=shared` (the
decode path on the training weights, no merged generation copy): its step time and peak memory beside the
default's. With --zero3 (default on) a further arm runs our stage again under DeepSpeed ZeRO-3
(`deepspeed=zero3`, one process through torchrun) to put its step time beside the run without DeepSpeed (ZeRO
off: no partitioning, the configuration a single GPU normally uses). Figure: TRL's own `step_time` metric, median (and min / max) over at least 3 steady steps per side
after the first (the first holds ours' one-time compile + graph capture, reported separately), and the peak GPU
memory of each side (ours keeps a merged bf16 copy of the generation weights beside the LoRA-wrapped model:
the difference is its cost).

    ours:      python launch.py stage=grpo model=local model.path=D rollout=hf_fast ... (a subprocess)
    reference: python benchmarks/_grpo_plain.py --model-dir D --samples S           (a subprocess)

    python benchmarks/grpo_step.py --out outputs/bench/grpo_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import log, row, write_result  # noqa: E402

NAME = "grpo_step"
DATA = ["dataset=synth", "dataset.image_width=448", "dataset.image_height=448", "dataset.num_samples=24",
        "dataset.eval_samples=4"]


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from sif.config import register_configs

    register_configs()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        return hydra_compose("config", overrides=overrides)


def median_after_first(values: list[float]) -> float | None:
    rest = values[1:] if len(values) > 1 else values
    return statistics.median(rest) if rest else None


def run(cmd: list[str], log_path: Path, timeout: float, stop_when=None) -> int:
    """Run `cmd`; with `stop_when` (a callable), stop it (SIGTERM) as soon as that returns True - used to end
    our stage once it has logged enough steps, before its final save + LoRA merge (not part of a step)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    with open(log_path, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        start = time.time()
        while proc.poll() is None:
            if time.time() - start > timeout or (stop_when is not None and stop_when()):
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                return 124 if time.time() - start > timeout else 0
            time.sleep(1.0)
        return proc.returncode


def step_times(metrics: Path) -> list[float]:
    if not metrics.is_file():
        return []
    out = []
    for line in metrics.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "step_time" in rec:
            out.append(rec["step_time"])
    return out


def run_stage_arm(name: str, stage_args: list[str], work: Path, out_dir: Path, steps: int, timeout: float,
                  torchrun: bool = False) -> dict:
    """One arm of our stage (run name `name`): run it until `steps` steps are logged, then read its metrics:
    step times, peak GPU memory, mean completion lengths and the step split when logged."""
    args = [a.replace("run_name=grpo-hf-fast", f"run_name={name}") for a in stage_args]
    metrics = work / "outputs" / name / "metrics.jsonl"
    prefix = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"] if torchrun else []
    t = time.perf_counter()
    rc = run([sys.executable, *prefix, "launch.py", *args], out_dir / f"{name}.log", timeout,
             stop_when=lambda: len(step_times(metrics)) >= steps)
    launcher = "torchrun --standalone --nproc_per_node=1 " if torchrun else "python "
    arm = {"rc": rc, "wall_s": time.perf_counter() - t, "command": launcher + "launch.py " + " ".join(args),
           "step_time": step_times(metrics)}
    if metrics.is_file():
        recs = [json.loads(line) for line in metrics.read_text(errors="replace").splitlines() if line.strip()]
        arm["completion_mean_length"] = [r.get("completions/mean_length") for r in recs if "completions/mean_length" in r]
        arm["split"] = [{k: v for k, v in r.items() if k.startswith("split/")} for r in recs
                        if any(k.startswith("split/") for k in r)]
        peaks = [r["gpu/peak_memory_gib"] for r in recs if isinstance(r.get("gpu/peak_memory_gib"), (int, float))]
        arm["peak_memory_gib"] = max(peaks) if peaks else None
    return arm


def arm_row(what: str, arm: dict, ours_t, ours_peak, reference_what: str, peak_label: str, extra: str = "") -> tuple:
    """(median steady step time, the table row) of an extra arm of our stage against the default arm."""
    t = median_after_first(arm.get("step_time") or [])
    steady = (arm.get("step_time") or [])[1:]
    note = (f"rc {arm.get('rc')}; steady steps {len(steady)} {[min(steady), max(steady)] if steady else None}; "
            f"peak GPU memory {arm.get('peak_memory_gib')} GiB ({peak_label}: {ours_peak} GiB){extra}")
    return t, row(what, None if t is None else round(t, 2), None if ours_t is None else round(ours_t, 2),
                  reference_what, "s/step", higher_is_better=False, note=note)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="outputs/bench/grpo_step.json")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--steps", type=int, default=4, help="steps of our stage (the first is not steady)")
    ap.add_argument("--plain-steps", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=170)
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument("--arch", default="qwen2_5_vl_3b", help="qwen2_5_vl_3b | qwen2_5_vl_7b (sif.models.arch)")
    ap.add_argument("--split", action="store_true",
                    help="our arm with stage.step_split=true: split/<part>_s per step (generation, rewards, ...)")
    ap.add_argument("--shared", action=argparse.BooleanOptionalAction, default=True,
                    help="also run our stage with rollout.generation_weights=shared (no merged generation copy)")
    ap.add_argument("--zero3", action=argparse.BooleanOptionalAction, default=True,
                    help="also run our stage under deepspeed=zero3 (one process through torchrun)")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="sif-grpo-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    Path(args.out).resolve().parent.mkdir(parents=True, exist_ok=True)
    out_dir = work / "logs"  # logs and side files stay in the work folder; their tails go into the result
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"workdir": str(work), "arch": args.arch}

    import torch

    from sif.models.arch import save_arch_model

    t = time.perf_counter()
    model_dir = save_arch_model(args.arch, work / args.arch, device="cuda")
    torch.cuda.empty_cache()
    log(NAME, f"model folder {model_dir} ({time.perf_counter() - t:.0f}s)")
    from sif.generate.dataset_cache import samples_path

    cfg = compose([*DATA, f"paths.cache_dir={cache}"])
    samples = samples_path(cfg, "train")
    log(NAME, f"samples {samples}")

    # ours: the grpo stage, rollout=hf_fast
    stage_args = [
        "stage=grpo", "model=local", f"model.path={model_dir}", "model.dtype=bfloat16", "model.max_pixels=262144",
        "model.gradient_checkpointing=true", "model.lora.enabled=true", "model.lora.r=64", "model.lora.alpha=128",
        "rollout=hf_fast", *DATA, f"paths.cache_dir={cache}", f"paths.output_root={work / 'outputs'}",
        "run_name=grpo-hf-fast", "stage.bf16=true", "stage.num_generations=8", "stage.per_device_train_batch_size=8",
        "stage.max_completion_length=256", f"stage.max_steps={args.steps}", "stage.save_steps=100000",
        "stage.save_completions_every=100000", "stage.temperature=1.0", "stage.beta=0.04", "stage.loss_type=grpo",
        "stage.learning_rate=1e-5", *(["stage.step_split=true"] if args.split else []),
    ]
    ours = {"mode": "stage", **run_stage_arm("grpo-hf-fast", stage_args, work, out_dir, args.steps, args.timeout)}
    rc = ours["rc"]
    if not ours.get("step_time"):
        log(NAME, f"our stage gave no step times (rc {rc}); measuring FastGenerator in a GRPOTrainer subclass")
        rc2 = run([sys.executable, str(HERE / "_grpo_plain.py"), "--model-dir", str(model_dir), "--samples",
                   str(samples), "--steps", str(args.steps), "--out", str(out_dir / "grpo_fast_subclass.json"),
                   "--fast"], out_dir / "grpo_fast_subclass.log", args.timeout)
        sub = out_dir / "grpo_fast_subclass.json"
        if sub.is_file():
            ours = {**json.loads(sub.read_text()), "rc": rc2, "stage_rc": rc,
                    "mode": "GRPOTrainer subclass with FastRolloutMixin (the stage run failed)"}
    results["ours"] = ours
    log(NAME, f"ours: {ours.get('mode')} step_time {ours.get('step_time')}")

    if args.shared:  # the memory-short mode: the decode path on the training weights, no merged copy
        results["shared"] = run_stage_arm("grpo-shared", [*stage_args, "rollout.generation_weights=shared"], work,
                                          out_dir, args.steps, args.timeout)
        log(NAME, f"ours with shared generation weights: step_time {results['shared']['step_time']}")
    if args.zero3:  # the paper's GRPO engine on one GPU: same stage, DeepSpeed ZeRO-3 partitioning
        results["zero3"] = run_stage_arm("grpo-zero3", [*stage_args, "deepspeed=zero3"], work, out_dir, args.steps,
                                         args.timeout, torchrun=True)
        log(NAME, f"ours under ZeRO-3: step_time {results['zero3']['step_time']}")

    if not args.skip_plain:
        rc = run([sys.executable, str(HERE / "_grpo_plain.py"), "--model-dir", str(model_dir), "--samples", str(samples),
                  "--steps", str(args.plain_steps), "--out", str(out_dir / "grpo_plain.json")],
                 out_dir / "grpo_plain.log", args.timeout)
        plain_file = out_dir / "grpo_plain.json"
        results["plain"] = {**(json.loads(plain_file.read_text()) if plain_file.is_file() else {}), "rc": rc}
        log(NAME, f"plain TRL: step_time {results['plain'].get('step_time')}")

    for key, name in (("ours_log_tail", "grpo-hf-fast.log"), ("plain_log_tail", "grpo_plain.log"),
                      ("subclass_log_tail", "grpo_fast_subclass.log"), ("zero3_log_tail", "grpo-zero3.log"),
                      ("shared_log_tail", "grpo-shared.log")):
        if (out_dir / name).is_file():
            results[key] = (out_dir / name).read_text(errors="replace")[-3000:]
    ours_t = median_after_first(ours.get("step_time") or [])
    plain_t = median_after_first(results.get("plain", {}).get("step_time") or [])
    results["ours_step_s"], results["plain_step_s"] = ours_t, plain_t
    for side, steps in (("ours", ours.get("step_time") or []), ("plain", results.get("plain", {}).get("step_time") or [])):
        steady = steps[1:]
        results[f"{side}_steady_steps"] = len(steady)
        results[f"{side}_step_spread_s"] = [min(steady), max(steady)] if steady else None
    results["ours_peak_memory_gib"] = ours.get("peak_memory_gib")
    results["plain_peak_memory_gib"] = results.get("plain", {}).get("peak_memory_gib")
    first = (ours.get("step_time") or [None])[0]
    size = args.arch.rsplit("_", 1)[-1].upper()
    rows = [row(f"GRPO step time, 8 x 256 tokens, {size} arch, LoRA r64", None if ours_t is None else round(ours_t, 2),
                None if plain_t is None else round(plain_t, 2), "plain TRL GRPOTrainer (HF generate)", "s/step",
                target="<= 1/5 of plain (aim 1/10)", higher_is_better=False, threshold=5.0,
                note=f"ours: {ours.get('mode')}; first step (compile + capture) "
                     f"{'-' if first is None else round(first, 1)} s; steady steps ours {results['ours_steady_steps']} "
                     f"{results['ours_step_spread_s']}, plain {results['plain_steady_steps']} "
                     f"{results['plain_step_spread_s']}; peak GPU memory ours {results['ours_peak_memory_gib']} GiB, "
                     f"plain {results['plain_peak_memory_gib']} GiB")]
    peak = results["ours_peak_memory_gib"]
    if "shared" in results:
        results["shared_step_s"], shared_row = arm_row(
            "GRPO step time with rollout.generation_weights=shared (no merged copy)", results["shared"], ours_t, peak,
            "our stage with the merged generation copy (the default)", "with the copy")
        rows.append(shared_row)
    if "zero3" in results:
        results["zero3_step_s"], zero3_row = arm_row(
            "GRPO step time under DeepSpeed ZeRO-3 (one GPU), same settings", results["zero3"], ours_t, peak,
            "our stage without DeepSpeed (ZeRO off)", "ZeRO off",
            "; on one GPU ZeRO-3 partitions nothing and only adds its gather/release hooks")
        rows.append(zero3_row)
    write_result(args.out, NAME, results, rows)


if __name__ == "__main__":
    main()
