"""answer_progress and ProgressMemory: the bonus by hand in both modes, grouping, state, merging, ranks."""

from __future__ import annotations

import json
import math

import pytest

from sif.rewards import ProgressMemory
from sif.rewards.memory import all_gather_group_stats
from tests.rewards.helpers import FULL, FakeJudge, call, chain, funcs, rows


def ans(a: str) -> str:
    return chain([[(FULL, 0.5)]], a)


SCORES = {"s50": 0.5, "s75": 0.75, "s90": 0.9, "s00": 0.0, "s100": 1.0}


def progress(compat: bool):
    judge = FakeJudge(table=SCORES)
    f = funcs(weights={"answer_progress": 1.0}, judge=judge, paper_compat=compat)["answer_progress"]
    return f, f.suite.memory


@pytest.mark.parametrize("compat", [False, True])
def test_first_visit_then_improvement(compat):
    f, mem = progress(compat)
    assert call(f, [ans("s50")] * 2, id="a") == [0.5, 0.5]
    assert mem.get("a") == 0.5
    assert call(f, [ans("s75")] * 2, id="a") == [1.0, 1.0]  # 0.75 + (0.75 - 0.5)
    assert mem.get("a") == (1.0 if compat else 0.75)  # paper stores the post-bonus mean


def test_compounding_in_paper_mode_kills_the_next_bonus():
    f, mem = progress(False)
    g, pmem = progress(True)
    for s in ("s50", "s75"):
        call(f, [ans(s)] * 2, id="a")
        call(g, [ans(s)] * 2, id="a")
    # third visit s = 0.9: fixed compares with the raw 0.75 -> 0.9 + 0.15; paper with the stored 1.0 -> 0.9
    assert call(f, [ans("s90")] * 2, id="a") == pytest.approx([1.05, 1.05])
    assert call(g, [ans("s90")] * 2, id="a") == [0.9, 0.9]
    assert mem.get("a") == 0.9 and pmem.get("a") == 0.9  # paper: no bonus this time, so r == s


def test_zero_means_stored_in_fixed_mode_skipped_in_paper_mode():
    f, mem = progress(False)
    g, pmem = progress(True)
    for fn in (f, g):
        call(fn, [ans("s75")] * 2, id="a")
        call(fn, [ans("s00")] * 2, id="a")
    assert mem.get("a") == 0.0 and mem.visits("a") == 2
    assert pmem.get("a") == 0.75 and pmem.visits("a") == 1  # the zero mean was skipped
    assert call(f, [ans("s50")] * 2, id="a") == [1.0, 1.0]  # 0.5 + (0.5 - 0.0)
    assert call(g, [ans("s50")] * 2, id="a") == [0.5, 0.5]  # 0.5 < 0.75: no bonus


def test_mixed_group_mean_and_per_completion_bonus():
    f, mem = progress(False)
    call(f, [ans("s100"), ans("s00")], id="a")  # group mean 0.5
    assert mem.get("a") == 0.5
    # completions below the previous mean get no bonus, above it get s - 0.5
    assert call(f, [ans("s100"), ans("s00"), ans("s75"), ans("s50")], id="a") == [1.5, 0.0, 1.0, 0.5]
    assert mem.get("a") == pytest.approx((1.0 + 0.0 + 0.75 + 0.5) / 4)


def test_groups_by_id_not_by_position_and_ids_are_independent():
    f, mem = progress(False)
    texts = [ans("s100"), ans("s50"), ans("s00"), ans("s50")]
    assert call(f, texts, id=rows(["a", "b", "a", "b"])) == [1.0, 0.5, 0.0, 0.5]
    assert mem.get("a") == 0.5 and mem.get("b") == 0.5
    assert call(f, [ans("s75"), ans("s75")], id=rows(["b", "c"])) == [1.0, 0.75]
    assert mem.get("a") == 0.5 and mem.get("c") == 0.75


def test_rule_scorer_progress():
    f = funcs(weights={"answer_progress": 1.0})["answer_progress"]
    assert call(f, [ans("yes"), ans("no")], id="q1", answer="yes") == [1.0, 0.0]  # mean 0.5 stored
    assert call(f, [ans("yes"), ans("yes")], id="q1", answer="yes") == [1.5, 1.5]


def test_missing_id_falls_back_to_question_and_image():
    f, mem = progress(False)
    call(f, [ans("s50")], question="Q", image="i.png")
    assert mem.get("q:Q|img:i.png") == 0.5


def test_update_memory_off_leaves_no_trace():
    f, mem = progress(False)
    f.suite.update_memory = False
    call(f, [ans("s50")], id="a")
    assert len(mem) == 0


def test_external_memory_is_used():
    mem = ProgressMemory()
    mem.update("a", 0.25)
    f = funcs(weights={"answer_progress": 1.0}, judge=FakeJudge(table=SCORES), memory=mem)["answer_progress"]
    assert call(f, [ans("s50")], id="a") == [0.75]
    assert f.suite.memory is mem and mem.get("a") == 0.5


# ---- ProgressMemory --------------------------------------------------------------------------------

def test_memory_basics_and_non_finite_values_ignored():
    m = ProgressMemory()
    assert m.get("x") is None and m.get("x", 0.0) == 0.0 and "x" not in m
    m.update("x", 0.5, n=4)
    m.update(7, 0.25)
    for bad in (math.nan, math.inf, "abc", None):
        m.update("x", bad)
    assert m.get("x") == 0.5 and m.visits("x") == 1 and m.get("7") == 0.25 and len(m) == 2


def test_memory_state_round_trip_and_file(tmp_path):
    m = ProgressMemory()
    m.update("a", 0.5, n=8)
    m.update("a", 0.75, n=8)
    m.update("b", 0.0, n=4)
    state = m.state_dict()
    assert state == {"version": 1, "entries": {"a": {"score": 0.75, "visits": 2, "n": 8},
                                                "b": {"score": 0.0, "visits": 1, "n": 4}}}
    m2 = ProgressMemory()
    m2.load_state_dict(json.loads(json.dumps(state)))
    assert m2.state_dict() == state
    path = tmp_path / "sub" / "progress_memory.json"
    m.save(path)
    assert ProgressMemory().load(path).state_dict() == state
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temp file


def test_memory_load_drops_malformed_entries():
    m = ProgressMemory()
    m.load_state_dict({"entries": {"ok": {"score": 0.5, "visits": 2}, "nan": {"score": "nan"},
                                   "neg": {"score": 0.1, "visits": 0}, "junk": 3, "str": {"score": "x"}}})
    assert m.state_dict()["entries"] == {"ok": {"score": 0.5, "visits": 2, "n": 0}}
    m.load_state_dict("not a dict")  # type: ignore[arg-type]
    assert len(m) == 0


def test_memory_merge_rule_commutative_idempotent():
    a, b = ProgressMemory(), ProgressMemory()
    a.update("x", 0.5)
    a.update("x", 0.6)  # 2 visits
    a.update("y", 0.2)
    b.update("x", 0.9)  # 1 visit: loses to a's 2 visits
    b.update("y", 0.3)  # tie on visits: the higher score wins
    b.update("z", 0.1)  # only in b
    ab, ba = ProgressMemory(), ProgressMemory()
    ab.load_state_dict(a.state_dict())
    ab.merge(b.state_dict())
    ba.load_state_dict(b.state_dict())
    ba.merge(a.state_dict())
    assert ab.state_dict() == ba.state_dict()
    assert (ab.get("x"), ab.get("y"), ab.get("z")) == (0.6, 0.3, 0.1)
    before = ab.state_dict()
    ab.merge(before)
    assert ab.state_dict() == before


def test_single_process_sync_is_identity():
    m = ProgressMemory()
    m.update("a", 0.5)
    assert m.sync_across_ranks() is m and m.get("a") == 0.5
    assert all_gather_group_stats({"a": (1.5, 2)}) == {"a": (1.5, 2)}


def _rank_main(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    from sif.rewards import build_reward_funcs
    from tests.rewards.helpers import FakeJudge

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        fs, _ = build_reward_funcs({"weights": {"answer_progress": 1.0}, "answer_scorer": "judge"},
                                   judge=FakeJudge(table=SCORES))
        f = fs[0]
        # one group of 4 completions of sample "a" split over the two ranks: scores 1.0, 0.0 | 0.5, 0.5
        texts = [ans("s100"), ans("s00")] if rank == 0 else [ans("s50"), ans("s50")]
        f(prompts=["q", "q"], completions=texts, id=["a", "a"])
        f.suite.memory.update(f"only{rank}", 0.1 * (rank + 1))  # rank-local entries, merged by sync
        f.suite.memory.sync_across_ranks()
        with open(f"{out_dir}/rank{rank}.json", "w") as fh:
            json.dump(f.suite.memory.state_dict(), fh)
    finally:
        dist.destroy_process_group()


def test_two_ranks_share_group_means_and_sync(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_main, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    states = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert states[0] == states[1]
    entries = states[0]["entries"]
    assert entries["a"] == {"score": 0.5, "visits": 1, "n": 4}  # the mean over all 4 completions
    assert entries["only0"]["score"] == 0.1 and entries["only1"]["score"] == 0.2
