"""Shared helpers of the GPU benchmarks: machine facts, versions, the measured ceilings, timing, JSON output.

Every benchmark writes one JSON file {"name", "machine", "command", "results": {...}, "rows": [...]}, where
each row is one figure WITH the reference measured beside it in the same process/run:
    {"what", "ours", "reference", "reference_what", "ratio", "unit", "target", "pass"}
`benchmarks/run_all.py` renders all of them into docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets"):
        try:
            mod = __import__(name)
            out[name] = getattr(mod, "__version__", "?")
        except Exception:  # noqa: BLE001
            out[name] = "missing"
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"host_cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), sm_count=p.multi_processor_count,
                        cuda=torch.version.cuda)
    except Exception:  # noqa: BLE001
        pass
    try:
        info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        pass
    return info


def cuda_time(fn: Callable[[], Any], warmup: int = 1, repeat: int = 3) -> list[float]:
    """Wall seconds of `fn` (synchronised before and after), after `warmup` untimed calls."""
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times


def copy_bandwidth(gib: float = 2.0, repeat: int = 20) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting bytes read + written (METHOD.md's ceiling)."""
    import torch

    n = int(gib * 2**30) // 2
    a = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeat):
        start.record()
        b.copy_(a)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    del a, b
    torch.cuda.empty_cache()
    return 2 * n * 2 / statistics.median(times)


def matmul_tflops(n: int = 8192, repeat: int = 10) -> float:
    """Measured bf16 dense matmul rate (TFLOP/s) on random data: the compute ceiling for MFU."""
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / repeat
    del a, b
    torch.cuda.empty_cache()
    return 2 * n**3 / dt / 1e12


def row(what: str, ours: Optional[float], reference: Optional[float], reference_what: str, unit: str,
        target: Optional[str] = None, higher_is_better: bool = True, threshold: Optional[float] = None,
        note: str = "", minimum: Optional[float] = None) -> dict[str, Any]:
    """One figure with its reference. ratio = ours / reference (or reference / ours when lower is better);
    pass = ratio >= threshold, or ours >= minimum for an absolute target."""
    ratio = None
    if ours is not None and reference:
        ratio = ours / reference if higher_is_better else (reference / ours if ours else None)
    passed = None if threshold is None or ratio is None else bool(ratio >= threshold)
    if minimum is not None and ours is not None:
        passed = bool(ours >= minimum)
    return {"what": what, "ours": ours, "reference": reference, "reference_what": reference_what, "unit": unit,
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "pass": passed, "note": note}


def write_result(out: str | os.PathLike, name: str, results: dict[str, Any], rows: list[dict]) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"name": name, "machine": machine(), "versions": versions(),
           "command": " ".join([Path(sys.executable).name, *sys.argv]), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
           "results": results, "rows": rows}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"[{name}] wrote {path}")
    for r in rows:
        print(f"[{name}] {r['what']}: ours {r['ours']} vs {r['reference_what']} {r['reference']} {r['unit']} "
              f"-> ratio {r['ratio']} (target {r['target']}, pass {r['pass']})")
    return path


def log(name: str, msg: str) -> None:
    print(f"[{name} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def random_images(n: int, width: int, height: int, seed: int = 0) -> list:
    """Smooth random pictures (not zeros, not white noise: JPEG/PNG sizes and resize costs are realistic)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
        arr = np.asarray(img).astype(np.int16) + rng.integers(-12, 12, (height, width, 3))
        out.append(Image.fromarray(arr.clip(0, 255).astype(np.uint8)))
    return out
