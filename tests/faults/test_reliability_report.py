"""`make reliability`'s page generator: the figures come from the suite's JSON, budget refusals apart."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT
from tests.faults._reliability import summarize


def test_budget_refusals_are_not_counted_as_injected_faults():
    events = [{"kind": "api_fault", "component": "teacher", "fault": "500", "survived": True, "t": 1.0},
              {"kind": "api_fault", "component": "teacher", "fault": "budget", "survived": True, "count": 8, "t": 2.0},
              {"kind": "api_fault", "component": "judge", "fault": "timeout:4", "survived": False, "t": 3.0}]
    api = summarize(events, "x")["api_faults"]
    assert (api["injected"], api["survived"], api["not_sent_budget"]) == (2, 1, 8)
    assert api["by_component"]["teacher"] == {"injected": 1, "survived": 1, "not_sent_budget": 8}


def test_the_page_is_rewritten_between_its_markers(tmp_path):
    report = summarize([{"kind": "kill", "stage": "sft", "point": "checkpoint-3", "matched": True, "t": 1.0},
                        {"kind": "security", "check": "keys", "hits": 0, "files": 12, "t": 2.0}], "r1")
    (tmp_path / "r.json").write_text(json.dumps(report))
    page = tmp_path / "P.md"
    page.write_text("intro\n<!-- figures:begin -->\nold\n<!-- figures:end -->\n<!-- kills:begin -->\n<!-- kills:end -->\n"
                    "<!-- run:begin -->\nold run\n<!-- run:end -->\nprose\n")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reliability_report.py"), str(tmp_path / "r.json"),
                    "--json", str(tmp_path / "out.json"), "--md", str(page)], check=True, capture_output=True)
    text = page.read_text()
    assert "\nold\n" not in text and "old run" not in text and text.startswith("intro\n") and text.endswith("prose\n")
    assert "| resumes (same command) that matched the uninterrupted run | **1 / 1** |" in text
    assert "| sft | 1 | 1 | checkpoint-3 |" in text and "session `r1`" in text
    assert "(12 files searched for planted keys)" in text
    assert json.loads((tmp_path / "out.json").read_text())["command"] == "make reliability"
