"""docs/RELIABILITY.md's figures from the reliability suite's JSON: `make reliability` runs the suite, then this.

    python benchmarks/reliability_report.py outputs/reliability-run/reliability.json \
        --json docs/reliability.json --md docs/RELIABILITY.md

Copies the suite's JSON beside the document (with the command and the machine) and rewrites the generated
blocks of the page, between `<!-- NAME:begin -->` and `<!-- NAME:end -->`: `figures` (the summary table),
`kills` (every kill point of this run) and `run` (which session the figures come from). The prose around
them is written by hand and names no number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path

COMMAND = "make reliability"


def _join(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def figures_table(r: dict) -> str:
    api, bad, scan, sec = r["api_faults"], r["bad_inputs"], r["killed_folder_scan"], r["security"]
    kills = ", ".join(f"{s} {k['kills']}" for s, k in r["kills"].items())
    by_comp = ", ".join(f"{c} {v['injected']}" for c, v in api["by_component"].items() if v["injected"])
    budget = ", ".join(f"{c} {v['not_sent_budget']}" for c, v in api["by_component"].items() if v.get("not_sent_budget"))
    rows = [
        ("kills injected (SIGKILL of the whole process group)", f"**{r['kills_total']}**: {kills}"),
        ("resumes (same command) that matched the uninterrupted run",
         f"**{r['resumes_matched_total']} / {r['kills_total']}**"),
        ("files opened in the killed run folders", f"{scan['files']} in {scan['folders']} folders"),
        ("files truncated while looking complete", f"**{scan['truncated']}** ({scan['temp_files_left']} leftover "
                                                    "temporary files, never taken for artifacts)"),
        ("API faults injected", f"**{api['injected']}** ({by_comp})"),
        ("API faults survived", f"**{api['survived']} / {api['injected']}**"),
        ("calls not sent because the time budget (`budget_s`) ran out",
         f"**{api['not_sent_budget']}** ({budget or 'none'}); each counted, reported and retried by the next run"),
        ("bad inputs tried", f"**{bad['tried']}** ({_join(bad['by_outcome'])})"),
        ("samples lost", f"**{r['samples_lost']}**"),
        ("security checks / hits (planted keys found, escapes let through, unsafe calls in `sif/`)",
         f"**{sec['checks']} / {sec['hits']}** ({sec.get('files_searched', 0)} files searched for planted keys)"),
    ]
    lines = ["| figure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def kills_table(r: dict) -> str:
    lines = ["| stage | kills | resumes matched | kill points of this run |", "|---|---|---|---|"]
    for stage, k in r["kills"].items():
        lines.append(f"| {stage} | {k['kills']} | {k['resumes_matched']} | {', '.join(str(p) for p in k['points'])} |")
    return "\n".join(lines)


def run_block(r: dict, machine: str) -> str:
    s = r["session"]
    return (f"`{COMMAND}` (`pytest tests/faults tests/security tests/data/test_bad_inputs.py -n 2 --dist loadgroup`, "
            f"then this page's generator) on {machine}: session `{s['run_id']}`, {s['events']} events from "
            f"{s['first_event']} to {s['last_event']} ({s['span_s']} s). Its JSON is `docs/reliability.json`; kill "
            f"points are random but seeded (`SIF_FAULT_SEED`, default 20240817).")


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"docs page has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("--json", type=Path, default=Path("docs/reliability.json"))
    ap.add_argument("--md", type=Path, default=Path("docs/RELIABILITY.md"))
    args = ap.parse_args()
    r = json.loads(args.report.read_text())
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    args.json.write_text(json.dumps({"command": COMMAND, "machine": machine, **r}, indent=1) + "\n")
    text = args.md.read_text()
    for name, body in (("figures", figures_table(r)), ("kills", kills_table(r)), ("run", run_block(r, machine))):
        text = replace_block(text, name, body)
    args.md.write_text(text)
    print(figures_table(r))


if __name__ == "__main__":
    sys.exit(main())
