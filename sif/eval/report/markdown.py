"""The results table of one eval run (markdown), from a benchmark's aggregate dict."""

from __future__ import annotations

from typing import Any, Optional

KNOWN = {"n", "overall", "per_category", "per_category_n", "format_rate", "answer_missing", "acc_at_iou",
         "mean_iou", "iou_threshold", "depth_consistency", "compat"}


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: floats with `digits` decimals, ints as is, missing as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if value == value else "nan"
    return str(value)


def results_rows(agg: dict[str, Any]) -> list[tuple[str, str]]:
    """(metric, value) rows: overall, per category, format rate, answers missing, Acc@IoU, mean IoU, depth
    consistency, then the benchmark's own (official) numbers."""
    n = int(agg.get("n", 0))
    rows = [("overall accuracy", f"{fmt(agg.get('overall'))} (n={n})")]
    counts = agg.get("per_category_n") or {}
    for cat, value in (agg.get("per_category") or {}).items():
        rows.append((f"accuracy: {cat}", f"{fmt(value)} (n={counts.get(cat, '?')})"))
    rows.append(("format rate", fmt(agg.get("format_rate"))))
    rows.append(("answer missing", f"{agg.get('answer_missing', 0)} / {n}"))
    thr = agg.get("iou_threshold", 0.5)
    rows.append((f"Acc@{float(thr if thr is not None else 0.5):g}", fmt(agg.get("acc_at_iou"))))
    rows.append(("mean IoU", fmt(agg.get("mean_iou"))))
    rows.append(("depth consistency", fmt(agg.get("depth_consistency"))))
    for key, value in agg.items():
        if key in KNOWN:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((key.replace("_", " "), fmt(value)))
        elif isinstance(value, dict) and value and all(isinstance(v, (int, float)) for v in value.values()):
            rows += [(f"{key.replace('_', ' ')}: {k}", fmt(v)) for k, v in value.items()]
    return rows


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_table(agg: dict[str, Any], title: Optional[str] = None) -> str:
    """The markdown table of `results_rows` (with an optional heading line)."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in results_rows(agg)]
    return "\n".join(lines) + "\n"
