"""The results table of one eval run (markdown), from a benchmark's aggregate dict."""

from __future__ import annotations

from typing import Any, Optional

KNOWN = {"n", "overall", "per_category", "per_category_n", "format_rate", "answer_missing", "acc_at_iou",
         "mean_iou", "iou_threshold", "r2_x", "r2_y", "depth_consistency", "compat", "controls"}


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
    if "r2_x" in agg or "r2_y" in agg:
        rows.append(("R^2 of box centres (x / y)", f"{fmt(agg.get('r2_x'))} / {fmt(agg.get('r2_y'))}"))
    rows.append(("depth consistency", fmt(agg.get("depth_consistency"))))
    for key, value in agg.items():
        if key in KNOWN:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((key.replace("_", " "), fmt(value)))
        elif isinstance(value, dict) and value and all(isinstance(v, (int, float)) for v in value.values()):
            rows += [(f"{key.replace('_', ' ')}: {k}", fmt(v)) for k, v in value.items()]
    return rows


def controls_grid(agg: dict[str, Any]) -> Optional[tuple[list[str], list[list[str]]]]:
    """(header, rows) comparing the model with its image-blind controls (agg["controls"], sif.eval.controls):
    accuracy overall and per category, Acc@IoU, mean IoU and the R^2 of box centres; None without controls."""
    controls = (agg.get("controls") or {}).get("rows") or {}
    if not controls:
        return None
    cats = list((agg.get("per_category") or {}).keys())
    thr = agg.get("iou_threshold", 0.5)
    header = ["", "accuracy", *cats, f"Acc@{float(thr if thr is not None else 0.5):g}", "mean IoU", "R^2 x", "R^2 y"]

    def row(name: str, values: dict) -> list[str]:
        per = values.get("per_category") or {}
        return [name, fmt(values.get("overall")), *(fmt(per.get(c)) for c in cats), fmt(values.get("acc_at_iou")),
                fmt(values.get("mean_iou")), fmt(values.get("r2_x")), fmt(values.get("r2_y"))]

    return header, [row("this model", agg)] + [row(name, values) for name, values in controls.items()]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_table(agg: dict[str, Any], title: Optional[str] = None) -> str:
    """The markdown table of `results_rows` (with an optional heading line)."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in results_rows(agg)]
    grid = controls_grid(agg)
    if grid is not None:
        header, rows = grid
        lines += ["", "Against image-blind controls (a model that looks must beat every row below it):", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
