"""The reward suite: shared state of the registered rewards and their TRL-signature callables.

`build_reward_funcs(reward_cfg, judge, progress_memory)` returns `(funcs, weights)` in the order of
`reward_cfg.weights`: every named reward is included even with weight 0, so that TRL still logs
`rewards/<name>/mean` for it while it does not enter the total. Each callable has
`__name__ == <registry name>` and TRL 1.16's signature
`fn(prompts, completions, completion_ids=None, **kwargs) -> list[float]`; it always returns one finite
float per completion inside the reward's documented range and never raises.

The suite holds what the rewards share within one batch: parsed chains (each completion is parsed
once for all rewards), raw answer scores (the judge is called once per batch even when `answer` and
`answer_progress` are both active), depth maps, the progress memory and counters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from sif.registry import REWARDS
from sif.rewards._common import Columns, call_metric, completion_text, finite
from sif.rewards.memory import ProgressMemory

log = logging.getLogger(__name__)

PARSE_CACHE_SIZE = 4096
# Answers longer than this get score 0 without a judge call (fixed mode): a long "answer" is either a
# copied chain or an attempt to talk the judge into a high score (anchors §4 row 12, "judge hacking").
MAX_JUDGED_ANSWER_CHARS = 1000


@dataclass(frozen=True)
class RewardSpec:
    """A registered reward: `fn(suite, call) -> list[float]` and its documented range."""

    name: str
    fn: Callable[["RewardSuite", "RewardCall"], list[float]]
    lo: float
    hi: float

    @property
    def __name__(self) -> str:  # noqa: A003 - registry entries read like functions
        return self.name


def register_reward(name: str, lo: float, hi: float) -> Callable:
    """Decorator: register `fn(suite, call)` in `sif.registry.REWARDS` under `name` with range [lo, hi]."""

    def deco(fn: Callable) -> Callable:
        REWARDS.register(name)(RewardSpec(name, fn, lo, hi))
        return fn

    return deco


@dataclass
class RewardCall:
    """One reward-function call of TRL: the completion texts and the dataset columns."""

    texts: list[str]
    cols: Columns
    log_metric: Any = None
    trainer_state: Any = None

    @property
    def n(self) -> int:
        return len(self.texts)


class RewardSuite:
    """Shared state of the rewards: settings, judge, progress memory, per-batch caches and counters."""

    def __init__(self, reward_cfg: Any = None, judge: Any = None,
                 progress_memory: Optional[ProgressMemory] = None) -> None:
        from sif.config.training import RewardConfig
        from sif.config.typed import typed

        self.settings = typed(RewardConfig, reward_cfg)  # a RewardConfig, DictConfig or dict; defaults: the schema
        if self.settings.answer_scorer not in ("rule", "judge"):
            raise ValueError(f"reward.answer_scorer must be 'rule' or 'judge', got {self.settings.answer_scorer!r}")
        if self.settings.answer_scorer == "judge" and judge is None:
            raise ValueError("reward.answer_scorer=judge needs a judge (set judge=openai, or answer_scorer=rule)")
        self.judge = judge
        self.memory = progress_memory if progress_memory is not None else ProgressMemory()
        self.update_memory = True  # set False around evaluation so held-out rollouts leave no trace
        self.counters: dict[str, int] = {}
        self._parse_cache: dict[str, Any] = {}
        self._memo: dict[tuple, Any] = {}
        self._answer_cache: tuple[Any, list[float]] | None = None
        self._failed_depth: set[str] = set()

    @property
    def paper_compat(self) -> bool:
        return self.settings.paper_compat

    def count(self, name: str, k: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + k

    # ---- shared per-batch work -------------------------------------------------------------------
    def parse(self, text: str) -> Any:
        """`sif.chain.parse_chain(text, paper_compat)`, cached (the rewards of one batch share it)."""
        cached = self._parse_cache.get(text)
        if cached is None:
            from sif.chain import parse_chain

            if len(self._parse_cache) >= PARSE_CACHE_SIZE:
                self._parse_cache.clear()
            cached = parse_chain(text, paper_compat=self.paper_compat)
            self._parse_cache[text] = cached
        return cached

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A bounded per-suite cache for per-completion results that several rewards share."""
        try:
            return self._memo[key]
        except KeyError:
            pass
        if len(self._memo) >= 4 * PARSE_CACHE_SIZE:
            self._memo.clear()
        value = self._memo[key] = compute()
        return value

    def depth_map(self, path: Any) -> Any:
        """The depth map at `path` (LRU-cached by sif.depth), or None when it is missing or unreadable."""
        if not isinstance(path, str) or not path or path in self._failed_depth:
            self.count("depth_missing")
            return None
        try:
            from sif.depth import load_depth_map

            return load_depth_map(path)
        except Exception as exc:  # noqa: BLE001 - a bad file costs this sample its depth reward only
            if len(self._failed_depth) < 10_000:
                self._failed_depth.add(path)
            log.warning("depth map %s unreadable (%s); depth_consistency is 0 for its completions", path, exc)
            self.count("depth_missing")
            return None

    def answer_scores(self, call: RewardCall) -> list[float]:
        """Raw answer scores s in [0, 1] for the batch (rule or judge), computed once per batch."""
        key = (tuple(call.texts), tuple(call.cols.keys()), tuple(map(str, call.cols.kwargs.get("answer") or [])))
        if self._answer_cache is not None and self._answer_cache[0] == key:
            return list(self._answer_cache[1])
        from sif.chain import extract_answer

        preds = []
        for text in call.texts:
            try:
                preds.append(extract_answer(text))
            except Exception:  # noqa: BLE001
                preds.append(None)
        if self.settings.answer_scorer == "judge":
            scores = self._judge_scores(preds, call)
        else:
            scores = self._rule_scores(preds, call)
        scores = [finite(s, 0.0, 1.0) for s in scores]
        self._answer_cache = (key, scores)
        return list(scores)

    def _rule_scores(self, preds: Sequence[Optional[str]], call: RewardCall) -> list[float]:
        from sif.answers import answers_match

        out = []
        for i, pred in enumerate(preds):
            gt, choices = call.cols.get("answer", i), call.cols.get("choices", i)
            try:
                ok = answers_match(pred, str(gt) if gt is not None else "",
                                   choices=choices if isinstance(choices, (list, tuple)) else None,
                                   number_tolerance=self.settings.number_tolerance)
            except Exception:  # noqa: BLE001
                ok = False
            out.append(1.0 if ok else 0.0)
        return out

    def _judge_scores(self, preds: Sequence[Optional[str]], call: RewardCall) -> list[float]:
        """All completions of the batch in ONE `score_many` call (the judge runs them concurrently).

        Paper mode sends the question without its first character (bug 16) and sends missing answers as
        the text "None"; fixed mode sends the whole question and scores a missing or overlong answer 0
        without asking. Identical items are asked once.
        """
        from sif.llm.judge import JudgeItem

        out = [0.0] * len(preds)
        unique: dict[tuple, int] = {}
        items: list[Any] = []
        where: list[tuple[int, int]] = []  # (row, item index)
        for i, pred in enumerate(preds):
            question = str(call.cols.get("question", i, ""))
            reference = str(call.cols.get("answer", i, ""))
            image = call.cols.get("image", i)
            if self.paper_compat:
                question, prediction = question[1:], str(pred)
            else:
                if pred is None or not pred.strip() or len(pred) > MAX_JUDGED_ANSWER_CHARS:
                    self.count("judge_skipped")
                    continue
                prediction = pred
            k = (question, reference, prediction, image if isinstance(image, str) else None)
            if k not in unique:
                unique[k] = len(items)
                items.append(JudgeItem(question=question, reference=reference, prediction=prediction, image=image))
            where.append((i, unique[k]))
        if items:
            try:
                scores = list(self.judge.score_many(items))
            except Exception as exc:  # noqa: BLE001 - the judge counts its own fallbacks; this is the last net
                log.warning("judge failed for a whole batch (%s); scores 0", exc)
                self.count("judge_batch_errors")
                scores = [0.0] * len(items)
            for row, j in where:
                out[row] = finite(scores[j] if j < len(scores) else 0.0, 0.0, 1.0)
            call_metric(call.log_metric, "judge/calls", len(items))
            stats = getattr(self.judge, "stats", None)
            if stats is not None and hasattr(stats, "fallbacks"):
                call_metric(call.log_metric, "judge/fallbacks_total", float(stats.fallbacks))
        return out

    # ---- TRL callables ----------------------------------------------------------------------------
    def make_func(self, name: str) -> "RewardFunction":
        return RewardFunction(self, name)

    def __getstate__(self) -> dict:
        """Pickled without the per-batch caches (rebuilt on the next batch)."""
        state = dict(self.__dict__)
        state.update(_parse_cache={}, _memo={}, _answer_cache=None)
        return state

    def funcs_and_weights(self) -> tuple[list["RewardFunction"], list[float]]:
        names = list(self.settings.weights)
        if not names:
            raise ValueError("reward.weights is empty: name at least one reward")
        funcs = [self.make_func(n) for n in names]
        return funcs, [float(self.settings.weights[n]) for n in names]

    def stats(self) -> dict[str, float]:
        out = {f"rewards_suite/{k}": float(v) for k, v in self.counters.items()}
        out["progress/memory_size"] = float(len(self.memory))
        stats = getattr(self.judge, "stats", None)
        if stats is not None and hasattr(stats, "to_dict"):
            for k, v in dict(stats.to_dict()).items():
                if isinstance(v, (int, float)):
                    out[f"judge/{k}"] = float(v)
        return out


class RewardFunction:
    """One registered reward as TRL calls it: `fn(prompts, completions, completion_ids=None, **kwargs)`.

    A small class rather than a closure (as TRL writes its parametrised rewards) so the reward set pickles:
    it holds the shared suite and the registry name, and looks the reward up again after unpickling.
    """

    def __init__(self, suite: RewardSuite, name: str) -> None:
        spec: RewardSpec = REWARDS.get(name)  # unknown names raise UnknownNameError listing the known
        self.suite = suite
        self.__name__ = self.__qualname__ = name
        self.__doc__ = (spec.fn.__doc__ or "").strip() or None
        self.reward_range = (spec.lo, spec.hi)

    def __call__(self, prompts: Any = None, completions: Any = None, completion_ids: Any = None,
                 **kwargs: Any) -> list[float]:
        name = self.__name__
        spec: RewardSpec = REWARDS.get(name)
        texts = [completion_text(c) for c in (list(completions) if completions is not None else [])]
        call = RewardCall(texts=texts, cols=Columns(len(texts), kwargs), log_metric=kwargs.get("log_metric"),
                          trainer_state=kwargs.get("trainer_state"))
        try:
            values = list(spec.fn(self.suite, call))
        except Exception:  # noqa: BLE001 - last net; each reward handles per-row problems itself
            log.exception("reward %s failed on a batch; its values are 0 for this batch", name)
            self.suite.count(f"errors/{name}")
            values = []
        values = (values + [spec.lo] * len(texts))[: len(texts)]
        return [finite(v, spec.lo, spec.hi, default=spec.lo) for v in values]

    def __repr__(self) -> str:
        return f"RewardFunction({self.__name__!r}, range={self.reward_range})"


def build_reward_funcs(reward_cfg: Any, judge: Any = None, progress_memory: Optional[ProgressMemory] = None
                       ) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """TRL reward callables and their weights, in the order of `reward_cfg.weights` (weight 0 included).

    The callables share one `RewardSuite`, reachable as `funcs[0].suite` (its `.memory` is the progress
    memory to checkpoint).
    """
    suite = RewardSuite(reward_cfg, judge=judge, progress_memory=progress_memory)
    return suite.funcs_and_weights()
