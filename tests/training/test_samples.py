"""sif.training.samples / images: every kind of bad input is reported by id and reason; strict lists them all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sif.views import depth_png_path, load_depth_picture, load_pictures
from sif.training.samples import BadInputError, Rejection, SampleReport, drop_too_long, load_checked_samples
from tests.training.helpers import BROKEN_CHAIN, record, write_files, write_samples


def test_good_samples_are_kept_with_their_picture_sizes(tmp_path):
    path = write_samples(tmp_path, [record(i) for i in range(3)])
    report = load_checked_samples(path)
    assert [c.sample.id for c in report.kept] == ["s000", "s001", "s002"]
    assert report.rejected == [] and report.read == 3
    assert report.kept[0].sizes == ((96, 64), (96, 64))
    assert report.kept[0].image == tmp_path / "images" / "s000.png"
    rgb_only = load_checked_samples(path, with_depth=False)
    assert rgb_only.kept[0].sizes == ((96, 64),)


def test_every_kind_of_bad_sample_is_reported_by_id(tmp_path):
    records = [record(i) for i in range(10)]
    records[1]["image"] = "images/nowhere.png"
    records[2]["chain"] = BROKEN_CHAIN
    records[3]["chain"] = None
    records[4]["depth"] = "depth/nowhere.npy"
    records[5]["image"] = "../outside.png"
    records[7] = {"id": "s007", "image": "images/s007.png"}  # no question/answer
    records.append(dict(records[0]))  # duplicate id s000
    path = write_samples(tmp_path, records)
    (tmp_path / "images" / "s006.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("{not json\n")

    report = load_checked_samples(path)
    reasons = {r.id: r.reason for r in report.rejected}
    assert reasons == {"s001": "image_missing", "s002": "chain_invalid", "s003": "chain_missing",
                       "s004": "depth_missing", "s005": "path_escape", "s006": "image_unreadable",
                       "s007": "bad_record", "s000": "duplicate_id", "line 12": "bad_record"}
    assert [c.sample.id for c in report.kept] == ["s000", "s008", "s009"]
    assert report.read == 12
    summary = report.to_summary()
    assert summary["samples_used"] == 3 and summary["samples_skipped"] == 9
    assert summary["skipped_by_reason"]["bad_record"] == 2
    assert summary["skipped_ids"]["image_missing"] == ["s001"]
    report.raise_if_bad(strict=False)  # only a warning
    with pytest.raises(BadInputError) as err:
        report.raise_if_bad(strict=True)
    for sid in reasons:
        assert sid in str(err.value)
    out = tmp_path / "skipped.jsonl"
    report.write_rejections(out)
    assert len(out.read_text().splitlines()) == 9


def test_rgb_only_training_does_not_need_a_depth_map(tmp_path):
    rec = record(0, depth=None)
    path = write_samples(tmp_path, [rec])
    assert load_checked_samples(path, with_depth=False).kept
    assert load_checked_samples(path, with_depth=True).rejected[0].reason == "depth_missing"


def test_image_root_and_escape_permission(tmp_path):
    data = tmp_path / "data"
    write_files(data, 0)
    rec = record(0, image=str(data / "images" / "s000.png"), depth=str(data / "depth" / "s000.npy"))
    path = write_samples(tmp_path / "jsonl", [rec], make_files=False)
    assert load_checked_samples(path).rejected[0].reason == "path_escape"  # absolute paths leave the root
    assert load_checked_samples(path, allow_escape=True).kept
    rel = record(0)
    path = write_samples(tmp_path / "other", [rel], make_files=False)
    assert load_checked_samples(path, image_root=data).kept


def test_depth_picture_is_the_png_or_drawn_from_the_npy(tmp_path):
    write_files(tmp_path, 0, depth_png=True)
    write_files(tmp_path, 1, depth_png=False)
    npy0, npy1 = tmp_path / "depth" / "s000.npy", tmp_path / "depth" / "s001.npy"
    assert depth_png_path(npy0) == tmp_path / "depth" / "s000.png"
    from_png = np.asarray(load_depth_picture(npy0))
    drawn = np.asarray(load_depth_picture(npy1))  # same map, no PNG on disk: colourised in memory
    assert not depth_png_path(npy1).exists()
    assert from_png.shape == drawn.shape == (64, 96, 3)
    assert np.array_equal(from_png, drawn)
    pictures = load_pictures(tmp_path / "images" / "s001.png", npy1, with_depth=True)
    assert [p.mode for p in pictures] == ["RGB", "RGB"]
    bad = tmp_path / "depth" / "bad.npy"
    bad.write_bytes(b"garbage")
    from sif.views import DepthProblem

    with pytest.raises(DepthProblem, match="unreadable"):
        load_depth_picture(bad)


class _Counter:
    def count_many(self, examples):
        return [len(p[0]["content"]) * 100 + len(s) for p, _, s in examples]


def test_too_long_samples_are_moved_to_the_rejections(tmp_path):
    path = write_samples(tmp_path, [record(0), record(1, question="x")])
    report = load_checked_samples(path)
    drop_too_long(report, _Counter(), lambda item: ([{"role": "user", "content": [1] * (2 if item.sample.id == "s000"
                                                                                       else 5)}], None), 300)
    assert [c.sample.id for c in report.kept] == ["s000"] and report.kept[0].num_tokens == 202
    assert report.rejected == [Rejection("s001", "too_long", "502 tokens (text + image tokens) > max_length 300")]


def test_error_message_is_capped(tmp_path):
    report = SampleReport("x.jsonl", read=300, rejected=[Rejection(f"id{i}", "chain_invalid", "d") for i in range(300)])
    msg = report.error_message()
    assert "id0: chain_invalid" in msg and "... and 100 more" in msg
    assert json.dumps(report.to_summary())  # JSON-serializable
    assert len(report.to_summary()["skipped_ids"]["chain_invalid"]) == 100
