"""`format` (0 or 1): the completion follows the chain grammar of `sif.chain` (spec §3.6 (1)).

Paper mode uses the original checks (`parse_chain(text, paper_compat=True)`); fixed mode uses the
stricter grammar of `sif.chain` (the one SFT targets are rendered with).
"""

from __future__ import annotations

from sif.rewards.suite import RewardCall, RewardSuite, register_reward


@register_reward("format", lo=0.0, hi=1.0)
def format_reward(suite: RewardSuite, call: RewardCall) -> list[float]:
    """1.0 when the completion parses as a valid chain, else 0.0."""
    out = []
    for text in call.texts:
        try:
            out.append(1.0 if suite.parse(text).valid else 0.0)
        except Exception:  # noqa: BLE001 - untrusted text; a parser bug must not stop training
            suite.count("errors/format_row")
            out.append(0.0)
    return out
