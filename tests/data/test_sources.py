"""Importers on bad input: strict=true names file, line and field; strict=false skips, counts, goes on."""

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_launch
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.teacher import broken_reply

SUFFIX = " Please provide the bounding box coordinate of the region that can help you answer the question better."


def viscot_record(image: str, box: str = "[0.25, 0.25, 0.75, 0.75]", qid: str = "q") -> dict:
    return {"dataset": "gqa", "question_id": qid, "image": [image],
            "conversations": [{"from": "human", "value": "<image>\nWhat is in the middle?" + SUFFIX},
                              {"from": "gpt", "value": box},
                              {"from": "human", "value": "Please answer the question based on the box."},
                              {"from": "gpt", "value": "a cat"}]}


@pytest.fixture()
def viscot_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    Image.new("RGB", (200, 100), (120, 30, 30)).save(root / "img" / "wide.png")
    (root / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / "img" / "empty.png").write_bytes(b"")
    lines = [
        json.dumps(viscot_record("img/wide.png", qid="good-1")),
        "{not json",
        json.dumps(viscot_record("img/missing.png", qid="missing")),
        json.dumps(viscot_record("img/corrupt.png", qid="corrupt")),
        json.dumps(viscot_record("img/empty.png", qid="empty")),
        json.dumps(viscot_record("img/wide.png", box="[0.5, 0.5, 1.4, 0.9]", qid="out-of-range")),
        json.dumps(viscot_record("img/wide.png", box="[0.6, 0.5, 0.4, 0.9]", qid="inverted")),
        json.dumps(viscot_record("../../etc/passwd", qid="escape")),
        json.dumps(viscot_record("img/wide.png", qid="good-2")),
    ]
    (root / "viscot.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def tiny_depth(tmp_path_factory) -> Path:
    from sif.depth import build_tiny_depth_anything

    return build_tiny_depth_anything(tmp_path_factory.mktemp("depth") / "tiny-da")


@pytest.fixture()
def depth_args(tiny_depth) -> list[str]:
    return ["depth=depth_anything_v2", f"depth.model={tiny_depth}", "depth.device=cpu", "depth.dtype=float32",
            "depth.num_workers=0"]


def _args(root: Path, strict: bool) -> list[str]:
    return ["stage=generate", "dataset=viscot", f"dataset.path={root / 'viscot.jsonl'}",
            f"dataset.image_root={root}", f"strict={str(strict).lower()}"]


def test_imported_data_without_a_depth_model_fails_before_work(viscot_dir, tmp_path):
    proc = run_launch(_args(viscot_dir, strict=False), cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "depth=depth_anything_v2" in proc.stderr


def test_lenient_import_skips_and_counts_each_bad_record(viscot_dir, tmp_path, depth_args):
    run_launch(_args(viscot_dir, strict=False) + depth_args, cwd=tmp_path)
    run = next((tmp_path / "outputs").glob("generate-*"))
    samples = [json.loads(l) for l in (run / "samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["good-1", "good-2"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["skipped_total"] == 7
    # the VisCoT box [0.25,0.25,0.75,0.75] in the padded 200x200 square is x 0.25..0.75, y 0..1 per axis
    assert samples[0]["gt_boxes"] == [[0.25, 0.0, 0.75, 1.0]]
    examples = "\n".join(summary["skipped_examples"])
    for needle in ("viscot.jsonl:2:", "missing", "corrupt", "empty", "outside [0, 1]", "x2 > x1", "leaves the data root"):
        assert needle in examples, needle


@pytest.mark.parametrize("line,field", [(2, None), (3, "image")])
def test_strict_import_names_file_line_and_field(viscot_dir, tmp_path, line, field, depth_args):
    path = viscot_dir / "viscot.jsonl"
    rows = path.read_text().splitlines()
    path.write_text("\n".join([rows[0], rows[line - 1]]) + "\n")
    proc = run_launch(_args(viscot_dir, strict=True) + depth_args, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert f"viscot.jsonl:2" in proc.stderr
    if field:
        assert f"field {field!r}" in proc.stderr


def test_teacher_reply_that_breaks_the_grammar_is_rejected_and_counted(tmp_path):
    with FakeOpenAIServer(broken_reply) as server:
        args = ["stage=generate", "dataset.num_samples=3", "teacher=openai", f"teacher.base_url={server.base_url}",
                "teacher.max_attempts=2", "teacher.cache=false"]
        run_launch(args, cwd=tmp_path)
        run = next((tmp_path / "outputs").glob("generate-*"))
        summary = json.loads((run / "summary.json").read_text())
        assert summary["samples"] == 0 and summary["rejected"] == {"grammar": 3}
        assert len(server.requests) == 6  # each sample asked twice (max_attempts), then rejected
        (tmp_path / "strict").mkdir()
        proc = run_launch(args + ["strict=true"], cwd=tmp_path / "strict", check=False)
        assert proc.returncode != 0 and "teacher reply rejected (grammar)" in proc.stderr
