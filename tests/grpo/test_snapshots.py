"""Completion snapshots: the reward-side channel (log_extra) and the text + picture files."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from types import SimpleNamespace

import numpy as np
from PIL import Image

from sif.grpo.snapshots import CompletionSnapshotCallback, SnapshotColumns, snapshot_records, write_snapshot

CHAIN = ('<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n<text>The scene.</text>\n'
         '<area>[{"bbox_2d":[0.100,0.200,0.400,0.600],"depth":0.250}]</area>\n<text>The red cube.</text>\n</think>\n'
         '<answer>\nA\n</answer>')


def test_wrapper_forwards_columns_and_keeps_identity():
    def fmt(prompts, completions, completion_ids=None, **kwargs):
        return [1.0] * len(completions)

    fmt.reward_range = (0.0, 1.0)
    fmt.suite = "the suite"
    wrapped = SnapshotColumns(fmt)
    assert wrapped.__name__ == "fmt" and wrapped.reward_range == (0.0, 1.0) and wrapped.suite == "the suite"
    logged = {}
    out = wrapped(prompts=["p", "p"], completions=["a", "b"], completion_ids=None, id=["s1", "s1"],
                  image=["/i.png", "/i.png"], depth=["/d.npy", "/d.npy"], gt_boxes=[[[0, 0, 1, 1]], [[0, 0, 1, 1]]],
                  question=["q", "q"], answer=["A", "A"], log_extra=lambda col, vals: logged.setdefault(col, vals))
    assert out == [1.0, 1.0]
    assert logged["sif_id"] == ["s1", "s1"] and logged["sif_gt_boxes"] == ["[[0, 0, 1, 1]]"] * 2
    assert set(logged) == {"sif_id", "sif_image", "sif_depth", "sif_gt_boxes", "sif_question", "sif_answer"}
    assert wrapped(prompts=["p"], completions=["a"]) == [1.0]  # without log_extra (e.g. eval): just the reward


def _logs(tmp_path, n=3):
    image = tmp_path / "rgb.png"
    Image.new("RGB", (64, 48), "gray").save(image)
    depth = tmp_path / "depth.npy"
    np.save(depth, np.linspace(0, 1, 64 * 48, dtype=np.float16).reshape(48, 64))
    logs = {"prompt": deque(["p"] * n), "advantages": deque([0.5, -0.5, 0.0][:n]),
            "completion": deque([[{"role": "assistant", "content": CHAIN}], "garbage", "<think>"][:n]),
            "rewards": defaultdict(deque, {"format": deque([1.0, 0.0, 0.0][:n])}), "extra": defaultdict(deque)}
    for col, value in (("id", "s1"), ("image", str(image)), ("depth", str(depth)), ("answer", "A"),
                       ("gt_boxes", json.dumps([[0.1, 0.2, 0.4, 0.6]])), ("question", "Which?")):
        logs["extra"]["sif_" + col] = deque([value] * n)
    return logs


def test_records_and_files(tmp_path):
    records = snapshot_records(_logs(tmp_path), ["format"], step=20, count=2)
    assert len(records) == 2
    first = records[0]
    assert first["completion"] == CHAIN and first["parsed"]["valid"] and first["parsed"]["answer"] == "A"
    assert first["parsed"]["areas"][1] == [{"bbox_2d": [0.1, 0.2, 0.4, 0.6], "depth": 0.25}]
    assert first["rewards"] == {"format": 1.0} and first["advantage"] == 0.5
    assert first["gt_boxes"] == [[0.1, 0.2, 0.4, 0.6]]
    assert records[1]["completion"] == "garbage" and not records[1]["parsed"]["valid"]
    paths = write_snapshot(tmp_path / "completions", records)
    assert [p.name for p in paths] == ["step_0020.jsonl", "step_0020_0.png", "step_0020_1.png"]
    lines = [json.loads(x) for x in paths[0].read_text().splitlines()]
    assert [r["index"] for r in lines] == [0, 1]
    picture = Image.open(paths[1])
    assert picture.width >= 480 and picture.height > 48 * (picture.width // 64)  # upscaled, plus the caption


def test_callback_writes_on_multiples_on_rank_zero_only(tmp_path):
    trainer = SimpleNamespace(_logs=_logs(tmp_path), reward_func_names=["format"])
    cb = CompletionSnapshotCallback(tmp_path / "out", every=5, count=1, trainer=trainer)
    for step in range(1, 11):
        cb.on_step_end(None, SimpleNamespace(global_step=step, is_world_process_zero=True), None)
    cb.on_step_end(None, SimpleNamespace(global_step=15, is_world_process_zero=False), None)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "step_0005.jsonl", "step_0005_0.png", "step_0010.jsonl", "step_0010_0.png"]
    off = CompletionSnapshotCallback(tmp_path / "off", every=0, count=4, trainer=trainer)
    off.on_step_end(None, SimpleNamespace(global_step=10, is_world_process_zero=True), None)
    assert not (tmp_path / "off").exists()


def test_snapshot_failure_never_stops_training(tmp_path, caplog):
    trainer = SimpleNamespace(_logs={"completion": deque(["x"]), "extra": "not a dict"}, reward_func_names=[])
    cb = CompletionSnapshotCallback(tmp_path / "out", every=1, count=1, trainer=trainer)
    cb.on_step_end(None, SimpleNamespace(global_step=1, is_world_process_zero=True), None)
    assert "snapshot at step 1 failed" in caplog.text
