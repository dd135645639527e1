"""Reference rows for a held-out synthetic set: chance and the majority answer of training.

chance: uniform over a question's options, or, for an open question, over the answers its category takes in
training. majority answer: the single most frequent answer of the training samples, given to every question
(scored with the same matcher as the models). Both per category and overall.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable


def baselines(train: Iterable[dict], held_out: Iterable[dict]) -> dict[str, dict[str, float]]:
    """{"chance": {category: mean, ..., "overall": mean}, "majority answer": {...}} over `held_out` records
    (each with "answer", optional "choices" and "category")."""
    from sif.answers import answers_match

    train = list(train)
    if not train:
        raise ValueError("no training samples to take the majority answer from")
    majority = Counter(s["answer"] for s in train).most_common(1)[0][0]
    answers_by_cat: dict = defaultdict(set)
    for s in train:
        answers_by_cat[s.get("category")].add(s["answer"])
    rows: dict[str, dict] = {"chance": defaultdict(list), "majority answer": defaultdict(list)}
    for s in held_out:
        cat = s.get("category")
        chance = 1 / len(s["choices"]) if s.get("choices") else 1 / max(1, len(answers_by_cat[cat]))
        hit = float(answers_match(majority, s["answer"], s.get("choices")))
        for name, value in (("chance", chance), ("majority answer", hit)):
            rows[name][cat].append(value)
            rows[name]["overall"].append(value)
    return {name: {k: sum(v) / len(v) for k, v in cats.items()} for name, cats in rows.items()}
