"""Reports: the results table, the HTML page (escaping, cap, filters) opened in headless Chromium, the
drawn areas, and the comparison of several runs."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sif.chain import Chain, Focus, Step, parse_chain, render_chain
from sif.eval.report import ReportEntry, draw_chain, results_table, write_html_report
from sif.eval.report.compare import find_runs, write_comparison
from sif.eval.report.draw import PALETTE

AGG = {"n": 4, "overall": 0.5, "per_category": {"counting": 1.0, "left_right": 0.0},
       "per_category_n": {"counting": 2, "left_right": 2}, "format_rate": 0.75, "answer_missing": 1,
       "acc_at_iou": 0.25, "mean_iou": 0.4, "iou_threshold": 0.5, "depth_consistency": 0.6, "compat": False,
       "official_score": 0.123}


def chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name) or (name if os.path.isfile(name) and os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


def _chain(answer: str, *boxes) -> str:
    steps = [Step([Focus(b, d)], f"step {i}") for i, (b, d) in enumerate(boxes)]
    return render_chain(Chain(steps, answer))


def _entries(tmp_path: Path, n: int = 4) -> list[ReportEntry]:
    out = []
    for i in range(n):
        img = tmp_path / "imgs" / f"{i}.png"
        img.parent.mkdir(exist_ok=True)
        arr = np.zeros((120, 160, 3), dtype=np.uint8)
        arr[:, :, 0] = np.linspace(0, 255, 160, dtype=np.uint8)
        arr[30:90, 40:100, 2] = 200
        Image.fromarray(arr).save(img)
        completion = _chain("A" if i % 2 == 0 else "B", ((0.0, 0.0, 1.0, 1.0), 0.5), ((0.25, 0.25, 0.625, 0.75), 0.31))
        out.append(ReportEntry(id=f"item-{i}", image=str(img), question=f"Which one? <b>{i}</b>", gt_answer="A",
                               completion=completion, correct=i % 2 == 0, category=["counting", "left_right"][i // 2],
                               choices=["left", "right"], pred_answer="A" if i % 2 == 0 else "B",
                               gt_boxes=[(0.25, 0.25, 0.625, 0.75)], iou=1.0, depth_consistency=0.5, format_ok=True))
    return out


def test_results_table_rows():
    md = results_table(AGG, title="synth")
    assert "| overall accuracy | 0.500 (n=4) |" in md
    assert "| accuracy: counting | 1.000 (n=2) |" in md
    assert "| format rate | 0.750 |" in md and "| answer missing | 1 / 4 |" in md
    assert "| Acc@0.5 | 0.250 |" in md and "| mean IoU | 0.400 |" in md and "| depth consistency | 0.600 |" in md
    assert "| official score | 0.123 |" in md
    assert "| Acc@0.5 | – |" in results_table({"n": 0, "overall": 0.0})


def test_draw_chain_colours_steps_and_thickens_the_last():
    img = Image.new("RGB", (200, 100), (128, 128, 128))
    parsed = parse_chain(_chain("A", ((0.0, 0.0, 1.0, 1.0), 0.5), ((0.25, 0.2, 0.75, 0.8), 0.3)))
    drawn = np.asarray(draw_chain(img, parsed.areas))
    first, last = PALETTE[0], PALETTE[1]
    x1 = round(0.25 * 199)
    column = drawn[50, x1 - 1:x1 + 6]
    thick = sum(1 for px in column if tuple(px) == last)
    assert thick >= 3  # the last area is drawn 3x thicker than the base width (1 px here)
    assert tuple(drawn[50, 0]) == first
    assert drawn.shape == (100, 200, 3) and img.getpixel((0, 50)) == (128, 128, 128)  # a copy
    small = draw_chain(Image.new("RGB", (1000, 500)), parsed.areas, max_side=300)
    assert small.size == (300, 150)


def test_html_escapes_untrusted_text_and_caps_samples(tmp_path):
    entries = _entries(tmp_path, 4)
    entries[1].completion = '<script>alert("x")</script>\x0e <img src=x onerror=alert(1)>'
    page = write_html_report(tmp_path / "run" / "report.html", entries, AGG, {"backend": "hf"}, max_samples=3)
    text = page.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(&quot;x&quot;)" in text
    assert "onerror=alert(1)>" not in text and "\\x0e" in text
    assert "&lt;b&gt;0&lt;/b&gt;" in text  # the question is escaped too
    srcs = re.findall(r'<img src="([^"]+)"', text)
    assert len(srcs) == 3 and all(s.startswith("report_assets/") for s in srcs)
    assert all((tmp_path / "run" / s).is_file() for s in srcs)
    assert "http://" not in text and "https://" not in text  # no external assets
    assert 'data-category="counting" data-result="right"' in text and 'id="f-cat"' in text


def test_report_opens_in_headless_chromium(tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (make test installs it where apt-get is available)")
    page = write_html_report(tmp_path / "run" / "report.html", _entries(tmp_path, 4), AGG, {"backend": "hf"})
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    url = page.resolve().as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:2000]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(0)))
    n_img = len(re.findall(r"<img\b", dom.stdout))
    assert n_img == 4
    assert attrs.get("images-loaded") == str(n_img) and attrs.get("images-failed") == "0", attrs
    shot = tmp_path / "shot.png"
    res = subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1200,900", url], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 900)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert shot.stat().st_size > 10_000 and colours is not None and len(colours) > 50  # a rendered page


def _fake_run(folder: Path, overall: float, cats: dict[str, float], backend: str = "hf") -> Path:
    folder.mkdir(parents=True)
    agg = {**AGG, "overall": overall, "per_category": cats, "per_category_n": {c: 2 for c in cats}}
    (folder / "results.json").write_text(json.dumps({
        "benchmark": {"name": "synth"}, "backend": {"name": backend, "model": "served"},
        "model": {"name": "tiny", "path": None}, "checkpoint": None, "aggregate": agg}))
    return folder


def test_compare_table_csv_and_chart(tmp_path):
    _fake_run(tmp_path / "runs" / "eval-a", 0.5, {"counting": 1.0, "left_right": 0.0})
    _fake_run(tmp_path / "runs" / "eval-b", 0.75, {"counting": 0.5, "attribute": 1.0}, backend="openai")
    (tmp_path / "runs" / "eval-unfinished").mkdir()
    runs = find_runs([str(tmp_path / "runs" / "eval-*"), str(tmp_path / "runs" / "eval-a")])
    assert [r.label for r in runs] == ["eval-a", "eval-b"]  # each once, unfinished skipped
    out = write_comparison(runs, tmp_path / "cmp")
    rows = list(csv.DictReader(open(tmp_path / "cmp" / "compare.csv")))
    assert [r["run"] for r in rows] == ["eval-a", "eval-b"]
    assert rows[1]["model"] == "served" and rows[0]["attribute"] == "" and rows[1]["attribute"] == "1.0"
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| eval-b | synth | openai | served | 4 | 0.750 | 0.500 | – | 1.000 |" in md
    with Image.open(out["chart"]) as im:
        assert im.size[0] > 300 and im.size[1] > 200
    assert out["best_run"] == "eval-b"
    write_comparison(runs, tmp_path / "cmp2", metric="mean_iou")
    with pytest.raises(ValueError, match="no run has"):
        write_comparison(runs, tmp_path / "cmp3", metric="nope")
    with pytest.raises(ValueError, match="matched no eval run"):
        find_runs([str(tmp_path / "nothing-*")])
