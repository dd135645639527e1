"""The write primitives every stage uses (sif.io), SIGKILLed mid-write at seeded random moments.

* JsonlAppender: a writer appending fsynced records as fast as it can is killed; reopening the file cuts a
  partial last line (if any) and keeps a gap-free prefix of the records, every line whole.
* atomic_path / save_npy / write_json: a writer rewriting a large artifact in a loop is killed; the artifact
  is always one complete version (loads and equals a version that was written), never a mix or a prefix.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from sif.io import JsonlAppender, atomic_path, read_jsonl
from tests.faults._reliability import ROOT, record, sigkill, wait_for
from tests.faults.conftest import SEED

KILLS = 5

APPENDER = """
import sys
from sif.io import JsonlAppender
out = JsonlAppender(sys.argv[1])
i = len(out.done_ids)
while True:
    out.append({"id": f"r{i:06d}", "i": i, "pad": "x" * (i % 5000)})
    i += 1
"""

REWRITER = """
import sys, numpy as np
from sif.io import save_npy, write_json
k = 0
while True:
    save_npy(sys.argv[1], np.full((512, 1024), k % 2, dtype=np.float32))
    write_json(sys.argv[2], {"version": k, "blob": ["y" * 100] * 2000})
    k += 1
"""


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, start_new_session=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_jsonl_appender_killed_mid_append_keeps_whole_records_only(tmp_path):
    path = tmp_path / "records.jsonl"
    rng = random.Random(SEED * 1000 + 1)
    for kill in range(KILLS):
        before = len(list(read_jsonl(path))) if path.exists() else 0
        proc = _spawn(APPENDER, str(path))
        wait_for(lambda: path.exists() and path.stat().st_size > 0 and len(path.read_bytes().splitlines()) > before,
                 proc, timeout=60)
        time.sleep(rng.uniform(0.0, 0.3))
        assert sigkill(proc)
        tail_cut = not path.read_bytes().endswith(b"\n")
        with JsonlAppender(path) as app:  # reopening repairs a cut tail
            ids = sorted(app.done_ids)
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b"" and all(json.loads(x) for x in lines[:-1])
        assert ids == [f"r{i:06d}" for i in range(len(ids))] and len(ids) > before  # no gap, nothing lost
        record("kill", stage="io:JsonlAppender", point=f"kill {kill}", matched=True, lost=0,
               records=len(ids), tail_cut=tail_cut)


def test_atomic_artifacts_killed_mid_rewrite_are_always_one_whole_version(tmp_path):
    npy, js = tmp_path / "depth.npy", tmp_path / "state.json"
    rng = random.Random(SEED * 1000 + 2)
    for kill in range(KILLS):
        proc = _spawn(REWRITER, str(npy), str(js))
        wait_for(lambda: js.exists(), proc, timeout=60)
        time.sleep(rng.uniform(0.0, 0.5))
        assert sigkill(proc)
        arr = np.load(npy, allow_pickle=False)
        assert arr.shape == (512, 1024) and float(arr.min()) == float(arr.max()) in (0.0, 1.0)
        data = json.loads(js.read_text())
        assert len(data["blob"]) == 2000
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        record("kill", stage="io:atomic_path", point=f"kill {kill}", matched=True, lost=0, temp_left=len(leftovers))


def test_atomic_path_failure_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash inside the block")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]
