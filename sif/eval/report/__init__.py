"""Reports of eval runs: the markdown results table, a static HTML page with per-sample views, and the
picture of a chain's focus areas drawn on its image (shared with stage=infer)."""

from sif.eval.report.draw import draw_chain, save_picture
from sif.eval.report.html import ReportEntry, write_html_report
from sif.eval.report.markdown import fmt, results_rows, results_table

__all__ = ["ReportEntry", "draw_chain", "fmt", "results_rows", "results_table", "save_picture",
           "write_html_report"]
