"""Image and depth paths of untrusted data resolve under a configured root; `..`, absolute paths and symlinks
out of the root are refused unless dataset.allow_path_escape=true."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from sif.data.paths import PathEscapeError, resolve_under
from sif.data.records import RejectionLedger
from sif.data.schema import SampleError
from sif.data.sources.base import guarded
from sif.registry import SOURCES
from tests.faults._reliability import record

ESCAPES = ["../secret.png", "img/../../secret.png", "/etc/passwd", "img/link_out.png", "./../secret.png",
           "img/./../../secret.png"]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    Image.new("RGB", (20, 10), (1, 2, 3)).save(root / "img" / "ok.png")
    Image.new("RGB", (20, 10), (9, 9, 9)).save(tmp_path / "secret.png")
    (root / "img" / "link_out.png").symlink_to(tmp_path / "secret.png")
    (root / "img" / "link_in.png").symlink_to(root / "img" / "ok.png")
    return root


@pytest.mark.parametrize("rel", ESCAPES)
def test_escapes_are_refused_unless_allowed(tree, rel):
    with pytest.raises(PathEscapeError, match="leaves the data root"):
        resolve_under(tree, rel)
    assert resolve_under(tree, rel, allow_escape=True).is_absolute()
    record("security", check=f"path escape refused: {rel}", hits=0)


def test_paths_inside_the_root_resolve(tree):
    assert resolve_under(tree, "img/ok.png") == tree / "img" / "ok.png"
    assert resolve_under(tree, "img/sub/../ok.png") == tree / "img" / "ok.png"
    assert resolve_under(tree, "img/link_in.png") == tree / "img" / "ok.png"  # a symlink that stays inside


def test_importer_refuses_escapes_and_allows_them_when_configured(tree):
    lines = [{"id": f"r{i}", "question": "How many?", "image": rel, "answer": 1, "bboxs": [[1, 1, 10, 5]]}
             for i, rel in enumerate(["img/ok.png", *ESCAPES[:4]])]
    path = tree / "tally.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))

    def run(allow: bool, strict: bool):
        cfg = OmegaConf.create({"dataset": {"path": str(path), "image_root": str(tree), "allow_path_escape": allow,
                                            "max_pixels": 10_000_000}})
        skipped = RejectionLedger()
        return [it.id for it in guarded(SOURCES.get("tallyqa")(cfg, strict), strict, skipped)], skipped

    ids, skipped = run(allow=False, strict=False)
    assert ids == ["r0"] and skipped.total == 4
    assert all("leaves the data root" in e for e in skipped.examples)
    with pytest.raises(SampleError, match=r"tally.jsonl:2, field 'image'.*leaves the data root"):
        run(allow=False, strict=True)
    ids, _ = run(allow=True, strict=False)  # /etc/passwd is not an image: still refused, for that reason
    assert ids == ["r0", "r1", "r2", "r4"]
    record("security", check="importer path escapes refused (allowed only with dataset.allow_path_escape)", hits=0)


def test_training_samples_refuse_escapes(tree):
    from sif.training.samples import load_checked_samples

    chain = ('<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n<text>x</text>\n'
             '</think>\n<answer>\nA\n</answer>')
    recs = [{"id": f"s{i}", "image": rel, "question": "q", "answer": "A", "chain": chain}
            for i, rel in enumerate(["img/ok.png", *ESCAPES])]
    path = tree / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    report = load_checked_samples(path, with_depth=False)
    assert [c.sample.id for c in report.kept] == ["s0"]
    assert {r.reason for r in report.rejected} == {"path_escape"} and len(report.rejected) == len(ESCAPES)
    record("security", check="training sample path escapes refused", hits=0)
