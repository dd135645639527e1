"""The progress memory of `answer_progress`: the last group score of every sample, by sample id.

The paper (spec §3.5) keeps a process-local list of post-bonus group means keyed by a munged question
string, skips zero means and never saves it. Here the memory is keyed by the sample `id`, can be merged
across ranks (`sync_across_ranks`, `all_gather_group_stats`) and is saved in every checkpoint
(`save`/`load`, atomic JSON). *What* is stored (raw vs post-bonus mean, zero means skipped or not) is
decided by the reward (`sif.rewards.answer`), so both the fixed and the paper behaviour use this class.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Optional

from sif.io import write_json

STATE_VERSION = 1
FILENAME = "progress_memory.json"


@dataclass
class Entry:
    score: float  # the stored group mean
    visits: int = 1  # how many times the sample's group was scored
    n: int = 0  # completions behind the stored mean

    def to_dict(self) -> dict:
        return {"score": self.score, "visits": self.visits, "n": self.n}


def _dist() -> Any:
    """torch.distributed when a process group with more than one rank is up; None otherwise.

    torch is not imported here: if nobody imported it, no process group can exist.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist
    return None


def all_gather_group_stats(stats: dict[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
    """Sum per-key (sum, count) over all ranks; the identity without a process group.

    TRL splits one sample's completions over ranks when the per-device batch is smaller than
    num_generations, so a group mean must be taken over the gathered completions (as the paper does).
    Every rank calls the reward functions in the same order, so this collective is matched.
    """
    dist = _dist()
    if dist is None:
        return dict(stats)
    gathered: list[Optional[dict]] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, dict(stats))
    out: dict[str, tuple[float, int]] = {}
    for part in gathered:
        for key, (s, c) in (part or {}).items():
            s0, c0 = out.get(key, (0.0, 0))
            out[key] = (s0 + float(s), c0 + int(c))
    return out


class ProgressMemory:
    """sample id -> last stored group score (with visit counts), mergeable and checkpointable."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return str(key) in self._entries

    def get(self, key: Any, default: Optional[float] = None) -> Optional[float]:
        entry = self._entries.get(str(key))
        return default if entry is None else entry.score

    def visits(self, key: Any) -> int:
        entry = self._entries.get(str(key))
        return 0 if entry is None else entry.visits

    def update(self, key: Any, value: float, n: int = 0) -> None:
        """Store `value` for `key` (non-finite values are ignored: memory never holds NaN/inf)."""
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            return
        if not math.isfinite(v):
            return
        key = str(key)
        old = self._entries.get(key)
        self._entries[key] = Entry(score=v, visits=(old.visits if old else 0) + 1, n=max(0, int(n)))

    # ---- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"version": STATE_VERSION, "entries": {k: e.to_dict() for k, e in self._entries.items()}}

    @staticmethod
    def _parse_entries(state: Any) -> dict[str, Entry]:
        """Entries of a state dict; malformed entries are dropped (a hand-edited file cannot poison it)."""
        entries = state.get("entries", {}) if isinstance(state, dict) else {}
        out: dict[str, Entry] = {}
        if not isinstance(entries, dict):
            return out
        for key, rec in entries.items():
            if not isinstance(rec, dict):
                continue
            try:
                score = float(rec.get("score"))
                visits = int(rec.get("visits", 1))
                n = int(rec.get("n", 0))
            except (TypeError, ValueError, OverflowError):
                continue
            if math.isfinite(score) and visits >= 1:
                out[str(key)] = Entry(score=score, visits=visits, n=max(0, n))
        return out

    def load_state_dict(self, state: dict) -> None:
        self._entries = self._parse_entries(state)

    def merge(self, other_state: dict) -> None:
        """Merge another memory's state: per id the entry with more visits wins, ties keep the higher
        score (then the larger n).

        The rule is commutative, associative and idempotent, so any order of merging rank copies (or a
        memory with itself) gives the same result.
        """
        for key, theirs in self._parse_entries(other_state).items():
            ours = self._entries.get(key)
            if ours is None or (theirs.visits, theirs.score, theirs.n) > (ours.visits, ours.score, ours.n):
                self._entries[key] = theirs

    def sync_across_ranks(self) -> "ProgressMemory":
        """Gather every rank's state (all_gather_object) and merge them, so that all copies agree."""
        dist = _dist()
        if dist is not None:
            gathered: list[Optional[dict]] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, self.state_dict())
            for state in gathered:
                if state is not None:
                    self.merge(state)
        return self

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, self.state_dict(), indent=None)

    def load(self, path: str | os.PathLike) -> "ProgressMemory":
        with open(path, encoding="utf-8") as fh:
            self.load_state_dict(json.load(fh))
        return self
