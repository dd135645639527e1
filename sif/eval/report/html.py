"""A static HTML page per eval run: the results table and per-sample views (the image with the chain's
areas drawn, the chain text, predicted vs ground-truth answer, right/wrong), filterable by category and by
result with a small inline script. No external assets: pictures are written into `report_assets/` next to
the page and referenced by relative paths. Model output is untrusted: every string goes through
`html.escape` (control characters shown as \\xNN).

On window load an inline script sets `document.body.dataset.imagesLoaded / imagesFailed / imagesTotal`
(an image counts as loaded when `complete && naturalWidth > 0`), so a headless browser's --dump-dom shows
whether every picture loaded.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from sif.eval.report.draw import draw_chain, save_picture
from sif.eval.report.markdown import controls_grid, fmt, results_rows

log = logging.getLogger("sif.eval")
ASSETS = "report_assets"
MAX_CHAIN_IN_HTML = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class ReportEntry:
    id: str
    image: str
    question: str
    gt_answer: str
    completion: str
    correct: bool
    category: str = "all"
    choices: Optional[list[str]] = None
    pred_answer: Optional[str] = None
    gt_boxes: list[Sequence[float]] = field(default_factory=list)
    iou: Optional[float] = None
    depth_consistency: Optional[float] = None
    format_ok: bool = False
    error: Optional[str] = None
    zooms: list[dict] = field(default_factory=list)  # backend.zoom=true: {"box", "image": crop PNG}, in order


def esc(text: Any) -> str:
    """HTML-escaped text (quotes too), control characters made visible."""
    return html.escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)), quote=True)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1a1a1a;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}.meta{color:#555;font-size:13px;margin:0 0 16px}
table.summary{border-collapse:collapse;margin:0 0 16px;background:#fff}
table.summary td,table.summary th{border:1px solid #ddd;padding:4px 10px;font-size:14px;text-align:left}
.filters{position:sticky;top:0;background:#fafafa;padding:8px 0;border-bottom:1px solid #ddd;margin-bottom:12px}
.filters label{margin-right:16px;font-size:14px}
.sample{display:flex;gap:16px;background:#fff;border:1px solid #ddd;border-left:6px solid #999;
        border-radius:4px;padding:12px;margin:0 0 12px}
.sample.right{border-left-color:#2e9e44}.sample.wrong{border-left-color:#d2353c}
.sample img{max-width:520px;height:auto;align-self:flex-start;border:1px solid #ccc}
.sample .noimg{width:320px;color:#a00;font-size:13px}
.zooms{display:flex;gap:8px;flex-wrap:wrap;margin:6px 0}.zooms figure{margin:0;font-size:12px;color:#555}
.zooms img.zoom{max-width:200px;max-height:160px;width:auto;border:1px solid #4a7}
.sample .text{flex:1;min-width:0;font-size:14px}
.sample h3{margin:0 0 6px;font-size:15px}.badge{font-size:12px;padding:1px 8px;border-radius:9px;color:#fff}
.right .badge{background:#2e9e44}.wrong .badge{background:#d2353c}
.kv{color:#444}.kv b{color:#111}
pre.chain{white-space:pre-wrap;word-break:break-word;background:#f4f4f4;padding:8px;max-height:260px;
          overflow:auto;font-size:12px}
"""

SCRIPT = """
(function () {
  function apply() {
    var cat = document.getElementById('f-cat').value, res = document.getElementById('f-res').value, shown = 0;
    var cards = document.querySelectorAll('.sample');
    for (var i = 0; i < cards.length; i++) {
      var c = cards[i];
      var ok = (!cat || c.dataset.category === cat) && (!res || c.dataset.result === res);
      c.style.display = ok ? '' : 'none';
      if (ok) { shown++; }
    }
    document.getElementById('shown').textContent = shown + ' / ' + cards.length + ' shown';
  }
  document.getElementById('f-cat').addEventListener('change', apply);
  document.getElementById('f-res').addEventListener('change', apply);
  apply();
  window.addEventListener('load', function () {
    var imgs = document.images, ok = 0;
    for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } }
    document.body.dataset.imagesLoaded = String(ok);
    document.body.dataset.imagesFailed = String(imgs.length - ok);
    document.body.dataset.imagesTotal = String(imgs.length);
  });
})();
"""


def _picture(entry: ReportEntry, assets: Path, index: int, max_side: int) -> Optional[tuple[str, int, int]]:
    """Draw the entry's areas on its image into assets/; (relative src, width, height) or None."""
    from sif.chain import parse_chain
    from sif.data.images import open_rgb

    try:
        image = open_rgb(entry.image)
    except (OSError, ValueError) as exc:
        log.warning("report: cannot open %s (%s)", entry.image, exc)
        return None
    drawn = draw_chain(image, parse_chain(entry.completion).areas, entry.gt_boxes, max_side=max_side)
    name = f"{index:05d}.jpg"
    save_picture(drawn, assets / name)
    return f"{ASSETS}/{name}", drawn.width, drawn.height


def _zoom_strip(entry: ReportEntry, assets: Path, index: int) -> str:
    """The crops the model saw, in order, each captioned with its box in the original picture."""
    if not entry.zooms:
        return ""
    figures = []
    for k, z in enumerate(entry.zooms, 1):
        name = f"{index:05d}-zoom{k}.png"
        try:
            shutil.copyfile(z["image"], assets / name)
        except OSError as exc:
            log.warning("report: cannot copy crop %s (%s)", z.get("image"), exc)
            continue
        box = ",".join(f"{float(v):.3f}" for v in z.get("box", []))
        figures.append(f'<figure><img class="zoom" src="{ASSETS}/{esc(name)}" alt="zoom {k}">'
                       f'<figcaption>zoom {k} on [{esc(box)}]</figcaption></figure>')
    return f'<div class="zooms" data-zooms="{len(figures)}">{"".join(figures)}</div>'


def _card(entry: ReportEntry, picture: Optional[tuple[str, int, int]], zooms: str = "") -> str:
    result = "right" if entry.correct else "wrong"
    if picture is not None:
        src, w, h = picture
        img = f'<img src="{esc(src)}" width="{w}" height="{h}" alt="{esc(entry.id)}">'
    else:
        img = f'<div class="noimg">image unavailable: {esc(entry.image)}</div>'
    choices = ""
    if entry.choices:
        choices = "<br>".join(f"({chr(65 + i)}) {esc(c)}" for i, c in enumerate(entry.choices))
        choices = f'<p class="kv">{choices}</p>'
    metrics = [f"category <b>{esc(entry.category)}</b>", f"format {'ok' if entry.format_ok else 'broken'}"]
    if entry.iou is not None:
        metrics.append(f"IoU <b>{fmt(entry.iou)}</b>")
    if entry.depth_consistency is not None:
        metrics.append(f"depth consistency <b>{fmt(entry.depth_consistency)}</b>")
    chain = entry.completion if len(entry.completion) <= MAX_CHAIN_IN_HTML else (
        entry.completion[:MAX_CHAIN_IN_HTML] + f"\n... ({len(entry.completion)} characters, truncated)")
    error = f'<p class="kv">generation error: {esc(entry.error)}</p>' if entry.error else ""
    pred = esc(entry.pred_answer) if entry.pred_answer is not None else "<i>(no answer)</i>"
    return (f'<div class="sample {result}" data-category="{esc(entry.category)}" data-result="{result}">{img}'
            f'<div class="text"><h3>{esc(entry.id)} <span class="badge">{result}</span></h3>'
            f'<p>{esc(entry.question)}</p>{choices}'
            f'<p class="kv">predicted: <b>{pred}</b> &middot; ground truth: <b>{esc(entry.gt_answer)}</b></p>'
            f'<p class="kv">{" &middot; ".join(metrics)}</p>{error}{zooms}<pre class="chain">{esc(chain)}</pre>'
            f'</div></div>')


def write_html_report(path: str | Path, entries: Sequence[ReportEntry], aggregate: dict[str, Any],
                      info: Optional[dict[str, Any]] = None, max_samples: int = 200, max_side: int = 640,
                      title: str = "SIF eval report") -> Path:
    """Write the page and its pictures (report_assets/ beside it, replaced); returns the page's path."""
    from sif.io import write_text

    path = Path(path)
    assets = path.parent / ASSETS
    shutil.rmtree(assets, ignore_errors=True)
    assets.mkdir(parents=True, exist_ok=True)
    shown = list(entries)[:max(0, int(max_samples))]
    cards = [_card(e, _picture(e, assets, i, max_side), _zoom_strip(e, assets, i)) for i, e in enumerate(shown)]
    categories = sorted({e.category for e in shown})
    options = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in categories)
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in results_rows(aggregate))
    grid = controls_grid(aggregate)
    controls = ""
    if grid is not None:
        head = "".join(f"<th>{esc(h)}</th>" for h in grid[0])
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in grid[1])
        controls = (f'<h2 class="controls">Against image-blind controls</h2><p class="meta">chance, a rule that '
                    f'reads only the question, one constant box per category, and the same training on blank '
                    f'pictures: a model that looks must beat every row below its own</p>'
                    f'<table class="summary controls"><tr>{head}</tr>{body}</table>')
    meta = " &middot; ".join(f"{esc(k)}: {esc(v)}" for k, v in (info or {}).items() if v not in (None, ""))
    note = (f"<p class='meta'>showing the first {len(shown)} of {len(entries)} samples "
            f"(stage.max_samples_in_html)</p>" if len(shown) < len(entries) else "")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{esc(title)}</h1><p class='meta'>{meta}</p>\n"
        f'<table class="summary"><tr><th>metric</th><th>value</th></tr>{rows}</table>{controls}{note}\n'
        f'<div class="filters"><label>category <select id="f-cat"><option value="">all</option>{options}'
        f'</select></label><label>result <select id="f-res"><option value="">all</option>'
        f'<option value="right">right</option><option value="wrong">wrong</option></select></label>'
        f'<span id="shown"></span></div>\n<div id="samples">\n' + "\n".join(cards) +
        f"\n</div>\n<script>{SCRIPT}</script>\n</body></html>\n")
    write_text(path, page)
    return path
