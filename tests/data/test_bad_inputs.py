"""The bad-input corpus: every kind of broken file or record, tried against every reader of untrusted data.

The corpus is written at run time into tests/data/bad/ (git-ignored by a .gitignore the fixture writes; set
SIF_BAD_CORPUS to put it elsewhere), nothing binary is committed. Readers tried:

* images (`sif.data.images.open_rgb`): truncated PNG/JPEG, corrupt, 0-byte, not-an-image, missing,
  decompression bombs (headers declaring 1.6 G / 144 M / 64 M pixels, refused before decoding; a real
  9 M-pixel image over a configured dataset.max_pixels), and the modes that are converted (CMYK, 16-bit,
  palette, RGBA, LA, 1-bit, float);
* depth maps (`sif.depth.DepthMap.load`, `check_depth_size`): NaN, inf, 3-D, object (pickle), string,
  complex, truncated, 0-byte, a size that does not fit the image;
* sample records (`sif.data.records`, the one reader sft / grpo / eval use): malformed JSON, invalid
  UTF-8, absurd nesting, non-objects, missing fields, wrong types, duplicate ids, boxes out of range /
  inverted / NaN / short;
* training inputs (`sif.training.samples.load_checked_samples`, sft and grpo): the files behind records
  and absurd chains;
* the generate importers (viscot, tallyqa, sif50k) and the eval benchmark loaders (all six).

Each case must give a clear error naming file / line / field under strict=true, or be skipped and counted
under strict=false while the good records around it are all processed (samples lost: 0). Every case tried is
recorded (`tests.faults._reliability`) for docs/RELIABILITY.md.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from sif.data.images import ImageProblem, open_rgb
from sif.data.records import RejectionLedger
from sif.data.records import read_samples
from sif.data.schema import SampleError
from sif.data.sources.base import guarded
from sif.depth.map import DepthMap, DepthSizeError, check_depth_size, read_depth_shape
from sif.io import write_bytes, write_text
from sif.registry import SOURCES
from tests.faults._reliability import record

ROOT = Path(__file__).resolve().parents[2]
W, H = 64, 48  # the corpus' good image size


def tried(target: str, case: str, outcome: str, lost: int = 0) -> None:
    record("bad_input", target=target, case=case, outcome=outcome, lost=lost)


# ---- the corpus -------------------------------------------------------------------------------------------

def _png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGB pixels, with almost no pixel data: a decompression bomb
    as far as any reader that trusts the header is concerned."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def build_corpus(root: Path) -> dict[str, Path]:
    """Write every corpus file (atomically: concurrent test workers may build it at once)."""
    rng = np.random.default_rng(0)
    good = Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    good_png, good_jpg = _png_bytes(good), _png_bytes(good, "JPEG")
    depth = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    files: dict[str, bytes] = {
        "img/good.png": good_png,
        "img/good2.png": _png_bytes(good.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "img/truncated.png": good_png[: len(good_png) // 2],
        "img/truncated.jpg": good_jpg[: len(good_jpg) // 2],
        "img/corrupt.png": b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 255, 300, dtype=np.uint8)),
        "img/empty.png": b"",
        "img/text.png": b"this is not an image\n",
        "img/bomb_1600M.png": png_header_only(40_000, 40_000),
        "img/bomb_144M.png": png_header_only(12_000, 12_000),
        "img/bomb_64M.png": png_header_only(8_000, 8_000),
        "img/big_9M.png": _png_bytes(Image.new("L", (3000, 3000), 0)),
        "img/cmyk.jpg": _png_bytes(good.convert("CMYK"), "JPEG"),
        "img/gray16.png": _png_bytes(Image.fromarray(np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16))),
        "img/palette.png": _png_bytes(good.convert("P")),
        "img/rgba.png": _png_bytes(good.convert("RGBA")),
        "img/la.png": _png_bytes(good.convert("LA")),
        "img/bilevel.png": _png_bytes(good.convert("1")),
        "img/float.tiff": _png_bytes(Image.fromarray(rng.random((H, W)).astype(np.float32)), "TIFF"),
        "depth/good.npy": _npy(depth.astype(np.float16)),
        "depth/half_res.npy": _npy(depth[::2, ::2].astype(np.float16)),
        "depth/wrong_size.npy": _npy(np.zeros((W, H), np.float16)),  # transposed: another aspect ratio
        "depth/nan.npy": _npy(np.where(depth > 0.5, np.nan, depth).astype(np.float32)),
        "depth/inf.npy": _npy(np.where(depth > 0.5, np.inf, depth).astype(np.float32)),
        "depth/three_d.npy": _npy(np.zeros((H, W, 3), np.float16)),
        "depth/object.npy": _npy(np.array([{"x": 1}], dtype=object), allow_pickle=True),
        "depth/strings.npy": _npy(np.array([["a", "b"]])),
        "depth/complex.npy": _npy(np.zeros((H, W), np.complex64)),
        "depth/truncated.npy": _npy(depth)[: 200],
        "depth/empty.npy": b"",
    }
    for rel, data in files.items():
        path = root / rel
        if not path.is_file() or path.read_bytes() != data:
            write_bytes(path, data)
    write_text(root / ".gitignore", "*\n")
    return {rel: root / rel for rel in files}


@pytest.fixture(scope="session")
def corpus() -> dict[str, Path]:
    root = Path(os.environ.get("SIF_BAD_CORPUS", ROOT / "tests" / "data" / "bad"))
    return build_corpus(root)


@pytest.fixture(scope="session")
def corpus_root(corpus) -> Path:
    return corpus["img/good.png"].parent.parent


# ---- images -----------------------------------------------------------------------------------------------

REFUSED_IMAGES = {  # corpus file -> words the error must contain
    "img/truncated.png": "truncated", "img/truncated.jpg": "truncated", "img/corrupt.png": "unreadable",
    "img/empty.png": "empty", "img/text.png": "unreadable", "img/missing.png": "missing",
    "img/bomb_1600M.png": "too large", "img/bomb_144M.png": "too large", "img/bomb_64M.png": "too large",
}
CONVERTED_IMAGES = ("img/cmyk.jpg", "img/gray16.png", "img/palette.png", "img/rgba.png", "img/la.png",
                    "img/bilevel.png", "img/float.tiff")


@pytest.mark.parametrize("rel", sorted(REFUSED_IMAGES))
def test_broken_and_bomb_images_are_refused_naming_the_file(corpus_root, rel):
    path = corpus_root / rel
    with pytest.raises(ImageProblem) as err:
        open_rgb(path)
    assert REFUSED_IMAGES[rel] in str(err.value) and str(path) in str(err.value)
    tried("open_rgb", rel, "refused")


def test_configured_pixel_limit_refuses_from_the_header(corpus_root):
    path = corpus_root / "img/big_9M.png"
    assert open_rgb(path, max_pixels=10_000_000).size == (3000, 3000)
    with pytest.raises(ImageProblem, match=r"too large \(3000x3000 > 1000000 pixels\)"):
        open_rgb(path, max_pixels=1_000_000)
    tried("open_rgb", "img/big_9M.png over dataset.max_pixels", "refused")


@pytest.mark.parametrize("rel", CONVERTED_IMAGES)
def test_other_modes_are_converted_to_rgb(corpus_root, rel):
    img = open_rgb(corpus_root / rel)
    arr = np.asarray(img)
    assert img.mode == "RGB" and img.size == (W, H)
    assert arr.max() > arr.min()  # real content, not a black or white page
    tried("open_rgb", rel, "converted")


def test_16_bit_keeps_its_top_8_bits(corpus_root):
    arr = np.asarray(open_rgb(corpus_root / "img/gray16.png"))[..., 0].astype(int)
    want = (np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16) >> 8).astype(int)
    assert np.abs(arr - want).max() <= 1


# ---- depth maps -------------------------------------------------------------------------------------------

REFUSED_DEPTH = {"depth/nan.npy": "non-finite", "depth/inf.npy": "non-finite", "depth/three_d.npy": "2-D",
                 "depth/object.npy": "plain numeric", "depth/strings.npy": "real numbers",
                 "depth/complex.npy": "real numbers", "depth/truncated.npy": "plain numeric",
                 "depth/empty.npy": "unreadable"}


@pytest.mark.parametrize("rel", sorted(REFUSED_DEPTH))
def test_bad_depth_maps_are_refused_naming_the_file(corpus_root, rel):
    path = corpus_root / rel
    with pytest.raises(ValueError) as err:
        DepthMap.load(path)
    assert REFUSED_DEPTH[rel] in str(err.value) and str(path) in str(err.value)
    tried("DepthMap.load", rel, "refused")


def test_depth_size_rule_exact_scaled_or_refused(corpus_root):
    assert DepthMap.load(corpus_root / "depth/good.npy", image_size=(W, H)).width == W
    half = DepthMap.load(corpus_root / "depth/half_res.npy", image_size=(W, H))  # same aspect: used as it is
    assert (half.width, half.height) == (W // 2, H // 2)
    assert check_depth_size((H // 2, W // 2), (W, H)) == "scaled"
    with pytest.raises(DepthSizeError, match=r"depth map is 48x64 \(WxH\) but the image is 64x48"):
        DepthMap.load(corpus_root / "depth/wrong_size.npy", image_size=(W, H))
    assert read_depth_shape(corpus_root / "depth/wrong_size.npy") == (W, H)  # the header, without the data
    with pytest.raises(ValueError, match="pickle"):
        read_depth_shape(corpus_root / "depth/object.npy")
    tried("DepthMap.load", "depth/half_res.npy (same aspect ratio)", "accepted")
    tried("DepthMap.load", "depth/wrong_size.npy (other aspect ratio)", "refused")


# ---- sample records (sft / grpo / eval inputs) --------------------------------------------------------------

def good_record(i: int) -> dict:
    return {"id": f"ok{i}", "image": "img/good.png", "depth": "depth/good.npy", "question": "Which is nearer?",
            "answer": "A", "choices": ["the cube", "the ball"], "gt_boxes": [[0.1, 0.2, 0.5, 0.6]],
            "category": "relative_depth", "num_objects": 2}


# (case, raw line, field the strict error must name or None)
BAD_LINES = [
    ("malformed JSON", b'{"id": "x1", "image": ', None),
    ("invalid UTF-8", b'{"id": "x2", "question": "\xff\xfe"}', None),
    ("absurd nesting", b"[" * 50_000 + b"]" * 50_000, None),
    ("not an object", b'["id", "image"]', None),
    ("missing question", json.dumps({"id": "x3", "image": "img/good.png", "answer": "A"}).encode(), "question"),
    ("question is a number", json.dumps({**good_record(0), "id": "x4", "question": 7}).encode(), "question"),
    ("id is a bool", json.dumps({**good_record(0), "id": True}).encode(), "id"),
    ("gt_boxes is a string", json.dumps({**good_record(0), "id": "x5", "gt_boxes": "0.1,0.2"}).encode(), "gt_boxes"),
    ("choices hold numbers", json.dumps({**good_record(0), "id": "x6", "choices": [1, 2]}).encode(), "choices"),
    ("num_objects is a bool", json.dumps({**good_record(0), "id": "x7", "num_objects": True}).encode(), "num_objects"),
    ("depth is a number", json.dumps({**good_record(0), "id": "x8", "depth": 5}).encode(), "depth"),
    ("box out of range", json.dumps({**good_record(0), "id": "x9", "gt_boxes": [[0.1, 0.2, 1.4, 0.6]]}).encode(),
     "gt_boxes"),
    ("box inverted", json.dumps({**good_record(0), "id": "x10", "gt_boxes": [[0.5, 0.2, 0.1, 0.6]]}).encode(),
     "gt_boxes"),
    ("box with NaN", b'{"id": "x11", "image": "i", "question": "q", "answer": "a", "gt_boxes": [[NaN, 0, 1, 1]]}',
     "gt_boxes"),
    ("box with 3 numbers", json.dumps({**good_record(0), "id": "x12", "gt_boxes": [[0.1, 0.2, 0.5]]}).encode(),
     "gt_boxes"),
    ("duplicate id", json.dumps(good_record(0)).encode(), "id"),
]


def write_mixed(path: Path, bad: list[bytes], good: int = 3) -> Path:
    """good records ok0..ok{good-1}, with the bad lines after ok0 (so the duplicate repeats ok0)."""
    lines = [json.dumps(good_record(0)).encode(), *bad, *(json.dumps(good_record(i)).encode() for i in range(1, good))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_read_samples_lenient_skips_and_counts_every_bad_line(tmp_path):
    path = write_mixed(tmp_path / "samples.jsonl", [raw for _, raw, _ in BAD_LINES], good=5)
    skipped = RejectionLedger()
    got = [s.id for s in read_samples(path, strict=False, skipped=skipped)]
    assert got == [f"ok{i}" for i in range(5)]  # nothing good lost
    assert skipped.total == len(BAD_LINES)
    assert sum(v for k, v in skipped.counts.items() if k.startswith("not valid JSON")) == 3
    assert skipped.counts["duplicate id"] == 1
    for case, _, _ in BAD_LINES:
        tried("read_samples", case, "skipped", lost=0)


def test_the_training_reader_is_the_same_reader(tmp_path):
    """sft and grpo read through sif.data.records too: the same lines kept, every bad one rejected by id."""
    from sif.training.samples import SampleReport, _read_records

    path = write_mixed(tmp_path / "samples.jsonl", [raw for _, raw, _ in BAD_LINES], good=5)
    report = SampleReport(str(path))
    kept = [s.id for s in _read_records(path, report)]
    assert kept == [s.id for s in read_samples(path, strict=False)] == [f"ok{i}" for i in range(5)]
    assert report.read == 5 + len(BAD_LINES) and len(report.rejected) == len(BAD_LINES)
    assert report.by_reason() == {"bad_record": len(BAD_LINES) - 1, "duplicate_id": 1}


@pytest.mark.parametrize("case,raw,field", BAD_LINES, ids=[c for c, _, _ in BAD_LINES])
def test_read_samples_strict_names_file_line_and_field(tmp_path, case, raw, field):
    path = write_mixed(tmp_path / "samples.jsonl", [raw], good=1)
    with pytest.raises(SampleError) as err:
        list(read_samples(path, strict=True))
    assert f"{path}:2" in str(err.value), str(err.value)
    if field:
        assert f"field {field!r}" in str(err.value)
    tried("read_samples", case, "strict_error")


# ---- training inputs: the files behind the records (sft and grpo) -------------------------------------------

def test_training_inputs_reject_bad_files_by_id_and_keep_the_rest(corpus_root, tmp_path):
    from sif.training.samples import BadInputError, load_checked_samples

    chain = ('<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n<text>All.</text>\n'
             '</think>\n<answer>\nA\n</answer>')
    cases = {  # id -> (record changes, expected reason)
        "truncated": ({"image": "img/truncated.png"}, "image_unreadable"),
        "bomb": ({"image": "img/bomb_1600M.png"}, "image_unreadable"),
        "empty_image": ({"image": "img/empty.png"}, "image_unreadable"),
        "missing_image": ({"image": "img/nowhere.png"}, "image_missing"),
        "escape": ({"image": "../../../etc/passwd"}, "path_escape"),
        "absolute": ({"image": "/etc/passwd"}, "path_escape"),
        "missing_depth": ({"depth": "depth/nowhere.npy"}, "depth_missing"),
        "nan_depth_no_png": ({"depth": "depth/nan.npy"}, "depth_unreadable"),
        "object_depth": ({"depth": "depth/object.npy"}, "depth_unreadable"),
        "absurd_chain": ({"chain": "<think>" + "<area>[[[[" * 20_000 + "</think>"}, "chain_invalid"),
        "chain_no_answer": ({"chain": chain.split("<answer>")[0]}, "chain_invalid"),
        "chain_box_inverted": ({"chain": chain.replace("0.000,0.000,1.000", "1.000,0.000,0.000")}, "chain_invalid"),
    }
    records = [{**good_record(0), "chain": chain}]
    records += [{**good_record(0), "chain": chain, "id": sid, **change} for sid, (change, _) in cases.items()]
    records += [{**good_record(i), "chain": chain, "image": "img/cmyk.jpg"} for i in (1, 2)]  # converted: kept
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = load_checked_samples(path, image_root=corpus_root)
    reasons = {r.id: r.reason for r in report.rejected}
    assert reasons == {sid: reason for sid, (_, reason) in cases.items()}, reasons
    assert [c.sample.id for c in report.kept] == ["ok0", "ok1", "ok2"]
    with pytest.raises(BadInputError) as err:
        report.raise_if_bad(strict=True)
    for sid in cases:
        assert f"  {sid}: " in str(err.value)
        tried("sft/grpo inputs", sid, "skipped (strict: listed)")


def test_training_inputs_refuse_a_depth_map_of_another_image(corpus_root, tmp_path):
    from sif.training.samples import load_checked_samples

    rec = {**good_record(0), "depth": "depth/wrong_size.npy",
           "chain": '<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n<text>x</text>\n'
                    '</think>\n<answer>\nA\n</answer>'}
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    report = load_checked_samples(path, image_root=corpus_root)
    assert [r.reason for r in report.rejected] == ["depth_mismatch"]
    assert "wrong_size.npy" in report.rejected[0].detail


# ---- the generate importers -------------------------------------------------------------------------------

SUFFIX = " Please provide the bounding box coordinate of the region that can help you answer the question better."


def viscot_rec(qid: str, image: str = "img/good.png", box: str = "[0.25, 0.25, 0.75, 0.75]") -> dict:
    return {"dataset": "gqa", "question_id": qid, "image": [image],
            "conversations": [{"from": "human", "value": "<image>\nWhat is in the middle?" + SUFFIX},
                              {"from": "gpt", "value": box},
                              {"from": "human", "value": "Please answer the question based on the box."},
                              {"from": "gpt", "value": "a cat"}]}


def tally_rec(qid: str, image: str = "img/good.png", boxes=((4, 4, 40, 30),)) -> dict:
    return {"id": qid, "question": "How many cubes?", "image": image, "answer": 2, "bboxs": [list(b) for b in boxes]}


CHAIN = ('<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n<text>All.</text>\n'
         '<area>[{"bbox_2d":[0.100,0.100,0.500,0.500],"depth":0.400}]</area>\n<text>There.</text>\n</think>\n'
         '<answer>\n2\n</answer>')


def sif50k_rec(qid: str, image: str = "img/good.png", boxes=((0.1, 0.1, 0.5, 0.5),), chain: str = CHAIN) -> dict:
    return {"id": qid, "image": image, "problem": "How many?", "response": "2", "dataset": "x",
            "normalized_solution_round": {"bbox_3d": [list(b) for b in boxes]},
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": chain}]}


IMAGE_CASES = {"truncated image": "img/truncated.png", "corrupt image": "img/corrupt.png",
               "0-byte image": "img/empty.png", "missing image": "img/nowhere.png",
               "bomb image": "img/bomb_1600M.png", "over dataset.max_pixels": "img/big_9M.png",
               "path escape": "../../../../etc/passwd", "absolute path": "/etc/passwd"}


def importer_cases(source: str) -> list[tuple[str, bytes, str | None]]:
    """(case, raw line, field the strict error names) for one importer; good records are made separately."""
    mk = {"viscot": viscot_rec, "tallyqa": tally_rec, "sif50k": sif50k_rec}[source]
    image_field = "image"
    cases = [(c, json.dumps(mk(f"bad-{i}", image=img)).encode(), image_field)
             for i, (c, img) in enumerate(IMAGE_CASES.items())]
    cases += [("malformed JSON", b'{"question_id": ', None), ("not an object", b"[1, 2, 3]", None),
              ("absurd nesting", b"[" * 50_000 + b"]" * 50_000, None),
              ("duplicate id", json.dumps(mk("good-0")).encode(), "id")]
    if source == "viscot":
        cases += [("box out of range", json.dumps(viscot_rec("b1", box="[0.5, 0.5, 1.4, 0.9]")).encode(), "conversations[1]"),
                  ("box inverted", json.dumps(viscot_rec("b2", box="[0.6, 0.5, 0.4, 0.9]")).encode(), "conversations[1]"),
                  ("box not JSON", json.dumps(viscot_rec("b3", box="[0.1, 0.2, oops]")).encode(), "conversations"),
                  ("absurd box nesting", json.dumps(viscot_rec("b4", box="[" * 5000)).encode(), "conversations"),
                  ("conversations missing", json.dumps({"question_id": "b5", "image": ["img/good.png"]}).encode(),
                   "conversations")]
    elif source == "tallyqa":
        cases += [("box out of range", json.dumps(tally_rec("b1", boxes=[(4, 4, 400, 30)])).encode(), "bboxs"),
                  ("box inverted", json.dumps(tally_rec("b2", boxes=[(40, 4, 4, 30)])).encode(), "bboxs"),
                  ("no boxes", json.dumps(tally_rec("b3", boxes=[])).encode(), "bboxs"),
                  ("question is a number", json.dumps({**tally_rec("b4"), "question": 3}).encode(), "question"),
                  ("answer is a list", json.dumps({**tally_rec("b5"), "answer": [2]}).encode(), "answer")]
    else:
        cases += [("box out of range", json.dumps(sif50k_rec("b1", boxes=[(0.1, 0.1, 1.5, 0.5)])).encode(),
                   "normalized_solution_round.bbox_3d"),
                  ("box inverted", json.dumps(sif50k_rec("b2", boxes=[(0.5, 0.1, 0.1, 0.5)])).encode(),
                   "normalized_solution_round.bbox_3d"),
                  ("absurd chain", json.dumps(sif50k_rec("b3", chain="<think>" + "<area>" * 30_000)).encode(),
                   "messages[1].content"),
                  ("chain without answer", json.dumps(sif50k_rec("b4", chain=CHAIN.split("<answer>")[0])).encode(),
                   "messages[1].content"),
                  ("problem is a number", json.dumps({**sif50k_rec("b5"), "problem": 1}).encode(), "problem")]
    return cases


def importer_cfg(path: Path, root: Path):
    return OmegaConf.create({"dataset": {"path": str(path), "image_root": str(root), "allow_path_escape": False,
                                         "max_pixels": 1_000_000}})


def good_importer_lines(source: str, n: int) -> list[bytes]:
    mk = {"viscot": viscot_rec, "tallyqa": tally_rec, "sif50k": sif50k_rec}[source]
    images = ["img/good.png", "img/cmyk.jpg", "img/palette.png", "img/gray16.png"]
    return [json.dumps(mk(f"good-{i}", image=images[i % len(images)])).encode() for i in range(n)]


@pytest.mark.parametrize("source", ["viscot", "tallyqa", "sif50k"])
def test_importer_lenient_skips_counts_and_keeps_every_good_record(source, corpus_root, tmp_path):
    cases = importer_cases(source)
    good = good_importer_lines(source, 4)
    path = tmp_path / f"{source}.jsonl"
    path.write_bytes(b"\n".join([good[0], *(raw for _, raw, _ in cases), *good[1:]]) + b"\n")
    skipped = RejectionLedger()
    items = list(guarded(SOURCES.get(source)(importer_cfg(path, corpus_root), False), False, skipped))
    assert [it.id for it in items] == [f"good-{i}" for i in range(4)]
    assert skipped.total == len(cases), (skipped.counts, skipped.examples)
    for case, _, _ in cases:
        tried(f"importer:{source}", case, "skipped", lost=4 - len(items))


@pytest.mark.parametrize("source", ["viscot", "tallyqa", "sif50k"])
def test_importer_strict_names_file_line_and_field_for_every_case(source, corpus_root, tmp_path):
    good = good_importer_lines(source, 1)[0]
    for case, raw, field in importer_cases(source):
        path = tmp_path / f"{source}.jsonl"
        path.write_bytes(good + b"\n" + raw + b"\n")
        with pytest.raises(SampleError) as err:
            list(guarded(SOURCES.get(source)(importer_cfg(path, corpus_root), True), True, RejectionLedger()))
        msg = str(err.value)
        assert f"{path}:2" in msg, (case, msg)
        if field:
            assert f"field {field!r}" in msg, (case, msg)
        tried(f"importer:{source}", case, "strict_error")


def test_importer_json_array_that_is_not_a_list_is_refused(tmp_path, corpus_root):
    path = tmp_path / "viscot.json"
    path.write_text('[{"a": 1}')  # starts like an array, is not one
    with pytest.raises(SampleError, match="not valid JSON"):
        list(SOURCES.get("viscot")(importer_cfg(path, corpus_root), True))
    tried("importer:viscot", "truncated JSON array file", "strict_error")


@pytest.mark.slow
def test_generate_run_on_a_bad_tallyqa_file_processes_all_the_good_records(corpus_root, tmp_path):
    """End to end (launch.py, strict=false): the good records become samples, every bad one is counted."""
    from sif.depth import build_tiny_depth_anything
    from tests.conftest import run_launch

    depth_model = build_tiny_depth_anything(tmp_path / "tiny-da")
    cases = importer_cases("tallyqa")
    good = good_importer_lines("tallyqa", 4)
    path = tmp_path / "tallyqa.jsonl"
    path.write_bytes(b"\n".join([good[0], *(raw for _, raw, _ in cases), *good[1:]]) + b"\n")
    run_launch(["stage=generate", "dataset=tallyqa", f"dataset.path={path}", f"dataset.image_root={corpus_root}",
                "dataset.max_pixels=1000000", "depth=depth_anything_v2", f"depth.model={depth_model}",
                "depth.device=cpu", "depth.dtype=float32", "depth.num_workers=0"], cwd=tmp_path)
    run = next((tmp_path / "outputs").glob("generate-*"))
    summary = json.loads((run / "summary.json").read_text())
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["id"] for s in samples) == [f"good-{i}" for i in range(4)]
    assert summary["skipped_total"] == len(cases) and summary["samples"] == 4
    tried("generate run (tallyqa)", f"{len(cases)} bad records among 4 good", "skipped", lost=4 - len(samples))


# ---- the eval benchmark loaders (always strict: a benchmark that drops items is another benchmark) -----------

def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _bench(name: str, path: Path, tmp_path: Path, **kw):
    from tests.eval.test_benchmarks_common import bench

    return bench(name, path, tmp_path, **kw)


def _lines(*recs) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs)


def benchmark_cases(root: Path) -> list[tuple[str, str, callable, str, int, str | None]]:
    """(benchmark, case, writer(folder) -> path, file name in the error, line, field)."""
    cv_good = {"idx": 0, "type": "2D", "task": "Count", "image": "img/good.png", "question": "How many?",
               "choices": ["1", "2"], "answer": "(A)", "source": "COCO"}
    vs_good = {"image": "img/good.png", "text": "Which?\n(A) red\n(B) blue", "category": "direct_attributes",
               "question_id": 0, "label": "A"}
    sat_good = {"image_bytes": [_b64(root / "img/good.png")], "question": "Left?", "answers": ["yes", "no"],
                "question_type": "ego", "correct_answer": "yes"}
    out = []

    def jsonl(name: str, *recs):
        def write(folder: Path) -> Path:
            p = folder / name
            p.write_text(_lines(*recs))
            return p
        return write

    for case, bad, field in [("malformed JSON", '{"idx": 1, ', None),
                             ("answer not a letter", {**cv_good, "idx": 1, "answer": "maybe"}, "answer"),
                             ("choices not strings", {**cv_good, "idx": 1, "choices": [1, 2]}, "choices"),
                             ("missing image", {**cv_good, "idx": 1, "image": "img/nowhere.png"}, "image"),
                             ("path escape", {**cv_good, "idx": 1, "image": "../../../etc/passwd"}, "image"),
                             ("corrupt embedded image", {**cv_good, "idx": 1, "image": {"bytes": "AAAA"}}, "image"),
                             ("question is a number", {**cv_good, "idx": 1, "question": 3}, "question")]:
        out.append(("cvbench", case, jsonl("test.jsonl", cv_good, bad), "test.jsonl", 2, field))
    for case, bad, field in [("malformed JSON", "{oops", None),
                             ("no options in text", {**vs_good, "question_id": 1, "text": "Which?"}, "text"),
                             ("label not an option", {**vs_good, "question_id": 1, "label": "Q"}, "label"),
                             ("missing image", {**vs_good, "question_id": 1, "image": "img/nowhere.png"}, "image"),
                             ("path escape", {**vs_good, "question_id": 1, "image": "/etc/passwd"}, "image")]:
        out.append(("vstar", case, jsonl("test_questions.jsonl", vs_good, bad), "test_questions.jsonl", 2, field))
    for case, bad, field in [("malformed JSON", "[1,", None),
                             ("corrupt embedded image", {**sat_good, "image_bytes": [_b64(root / "img/truncated.png")]},
                              "image_bytes"),
                             ("image bytes not base64", {**sat_good, "image_bytes": ["%%%"]}, "image_bytes"),
                             ("correct answer not a choice", {**sat_good, "correct_answer": "maybe"}, "correct_answer"),
                             ("one choice", {**sat_good, "answers": ["yes"]}, "answers")]:
        out.append(("sat", case, jsonl("test.jsonl", sat_good, bad), "test.jsonl", 2, field))

    def spatial(records):
        def write(folder: Path) -> Path:
            (folder / "positional.json").write_text(json.dumps(records))
            return folder
        return write

    sp_good = {"id": "p0", "image": "img/good.png", "question": "Left?", "answer": "Yes"}
    for case, bad, field in [("missing image", {**sp_good, "id": "p1", "image": "img/nowhere.png"}, "image"),
                             ("empty answer", {**sp_good, "id": "p1", "answer": ""}, "answer"),
                             ("path escape", {**sp_good, "id": "p1", "image": "../../x.png"}, "image")]:
        out.append(("spatialbench", case, spatial([sp_good, bad]), "positional.json", 2, field))

    def synth(bad_line: str):
        def write(folder: Path) -> Path:
            good = {**good_record(0), "image": str(root / "img/good.png"), "depth": str(root / "depth/good.npy")}
            (folder / "samples.jsonl").write_text(_lines(good, bad_line))
            return folder / "samples.jsonl"
        return write

    for case, raw, field in BAD_LINES[:4] + [BAD_LINES[7], BAD_LINES[11]]:
        if case == "invalid UTF-8":
            continue
        out.append(("synth", case, synth(raw.decode()), "samples.jsonl", 2, field))
    return out


def _copy_images(root: Path, folder: Path) -> None:
    """The images a benchmark folder needs, copied (a symlink out of the folder is an escape, and refused)."""
    (folder / "img").mkdir(parents=True)
    for name in ("good.png", "truncated.png"):
        (folder / "img" / name).write_bytes((root / "img" / name).read_bytes())


def test_every_benchmark_loader_names_file_line_and_field(corpus_root, tmp_path):
    cases = benchmark_cases(corpus_root)
    for i, (name, case, write, fname, line, field) in enumerate(cases):
        folder = tmp_path / f"{name}-{i}"
        _copy_images(corpus_root, folder)
        path = write(folder)
        with pytest.raises(SampleError) as err:
            _bench(name, path, tmp_path / f"cache-{i}").load()
        msg = str(err.value)
        assert f"{fname}:{line}" in msg, (name, case, msg)
        if field:
            assert f"field {field!r}" in msg, (name, case, msg)
        tried(f"benchmark:{name}", case, "strict_error")
    assert {c[0] for c in cases} == {"cvbench", "vstar", "sat", "spatialbench", "synth"}


def test_viscot_benchmark_bad_det_box_and_missing_pair(corpus_root, tmp_path):
    folder = tmp_path / "viscot_benchmark"
    (folder / "benchmark").mkdir(parents=True)
    (folder / "benchmark_det").mkdir()
    _copy_images(corpus_root, folder)
    qa = [{"dataset": "gqa", "question_id": i, "image": ["img/good.png"],
           "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "[0,0,1,1]"},
                             {"from": "human", "value": "<image>"}, {"from": "gpt", "value": "a cat"}]} for i in (0, 1)]
    (folder / "benchmark" / "gqa.json").write_text(json.dumps(qa))
    det = [{"question_id": 0, "img_path": "img/good.png", "bbox": [1, 1, 20, 20], "height": H, "width": W},
           {"question_id": 1, "img_path": "img/good.png", "bbox": [30, 1, 20, 20], "height": H, "width": W}]
    (folder / "benchmark_det" / "gqa.jsonl").write_text(_lines(*det))
    with pytest.raises(SampleError) as err:
        _bench("viscot", folder, tmp_path).load()
    assert "gqa.jsonl:2" in str(err.value) and "field 'bbox'" in str(err.value)
    tried("benchmark:viscot", "det box inverted", "strict_error")
    (folder / "benchmark_det" / "gqa.jsonl").write_text(_lines(det[0]))
    with pytest.raises(SampleError) as err:
        _bench("viscot", folder, tmp_path).load()
    assert "gqa.json:2" in str(err.value) and "field 'question_id'" in str(err.value)
    tried("benchmark:viscot", "question without its det record", "strict_error")


def test_benchmark_image_that_does_not_decode_stops_at_the_request_naming_the_file(corpus_root, tmp_path):
    """Benchmark loaders check that image files exist; decoding happens when a request is built (hf / vllm
    backends: `load_image` raises ImageProblem naming the file; the run is resumable)."""
    from sif.eval.backends.base import load_image

    with pytest.raises(ImageProblem) as err:
        load_image(str(corpus_root / "img/truncated.png"))
    assert "truncated.png" in str(err.value)
    tried("eval request", "truncated benchmark image", "refused")


# ---- gaps found by this corpus in readers outside sif/data (documented in docs/RELIABILITY.md) --------------

NESTED = b"[" * 50_000 + b"]" * 50_000


def test_training_reader_survives_an_absurdly_nested_line(tmp_path):
    from sif.training.samples import load_checked_samples

    path = tmp_path / "samples.jsonl"
    path.write_bytes(NESTED + b"\n")
    report = load_checked_samples(path)
    assert report.by_reason() == {"bad_record": 1}


def test_benchmark_reader_names_an_absurdly_nested_line(tmp_path):
    from sif.eval.benchmarks._files import read_records

    path = tmp_path / "test.jsonl"
    path.write_bytes(b'{"a": 1}\n' + NESTED + b"\n")
    with pytest.raises(SampleError, match="test.jsonl:2"):
        list(read_records(path))
