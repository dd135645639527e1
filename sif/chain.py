"""THE grammar of a reasoning chain: render, parse (never raises), validate.

    <think>
    <area>[{"bbox_2d":[x1,y1,x2,y2],"depth":d}, ...]</area>
    <text>...</text>
    ... (more area/text pairs)
    </think>
    <answer>
    ...
    </answer>

Generation (rendering SFT targets, checking teacher replies), the format reward and evaluation all use this
one module, so a chain the generator writes is by construction a chain the reward accepts.

Strict (fixed) validation applies the original's rules (spec 1.7, 3.6(1)) with these deliberate differences;
`paper_compat=True` reproduces the original's accept/reject decision:
  (a) "<= 3 decimals" is judged from the JSON number token itself (its exact decimal value, trailing zeros
      ignored: 0.500 and 5e-1 pass, 0.1234 and 1e-05 fail). The original used str(float), which crashed on
      1e-05 (format 0) and accepted 0.1230000000000000001 (str gives '0.123'). Integers need no check.
  (b) an empty area list `[]` is rejected (the original accepted it).
  (c) only whitespace may surround `<think>...</think>` and `<answer>...</answer>`, which must appear once
      each and in that order; only whitespace may separate the tags inside <think>; the answer must not
      contain a chain tag (<think>, <area>, <text>, <answer> or their closers). The original ignored all of
      this (junk between </text> and <area> was skipped by its findall).
  (d) JSON booleans are not numbers (the original's isinstance(x, (int, float)) let `true` count as 1).
      NaN/Infinity tokens and numbers that overflow to inf are malformed in both modes.
  (e) duplicate keys in an area object are rejected (json.loads silently keeps the last one).
Decisions shared by both modes:
  * extra keys next to bbox_2d/depth are allowed (as in the original);
  * inputs over MAX_CHAIN_CHARS are cut and flagged, and more than MAX_AREAS area blocks are flagged and only
    the first MAX_AREAS are read (bounded work on adversarial output; no real chain comes near either);
  * texts and the answer are returned stripped: surrounding whitespace is not significant;
  * `areas[i]` holds the foci of block i whenever the block is a JSON list whose every item is an object with
    a 4-number bbox_2d and a numeric depth (all finite), even if a range/order/decimals rule fails (the box
    rewards then see what the model meant; `area_ok[i]` says whether every rule held); otherwise [].
The think block is the text from the first <think> to the next </think>, the answer the text from the first
<answer> to the next </answer> (the original's non-greedy regexes), found with str.find: linear time.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

Box = tuple[float, float, float, float]

MAX_CHAIN_CHARS = 100_000
MAX_AREAS = 512
MAX_VIOLATIONS = 50

TAG_RE = re.compile(r"<(/?\w+)>")  # the original's tag regex; linear (no nested quantifiers)
_WS_RE = re.compile(r"\s*")
QUAD = ("area", "/area", "text", "/text")
CHAIN_TAGS = tuple(f"<{s}{n}>" for n in ("think", "area", "text", "answer") for s in ("", "/"))


@dataclass(frozen=True)
class Focus:
    """One focus area: a normalized box and the depth the model states for it."""
    bbox: Box
    depth: float


@dataclass
class Step:
    """One <area> block (several simultaneous foci) and the <text> that follows it."""
    areas: list[Focus]
    text: str


@dataclass
class Chain:
    """A whole reasoning chain: the steps inside <think>, then the answer."""
    steps: list[Step]
    answer: str


# ---- rendering -------------------------------------------------------------------------------------

def _num(v: float) -> str:
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"cannot render non-finite number {v!r}")
    s = f"{f:.3f}"
    return s[1:] if s.startswith("-") and float(s) == 0.0 else s  # "-0.000" -> "0.000"


def render_area(areas: list[Focus]) -> str:
    """The JSON list of one <area> block, every number with exactly 3 decimals."""
    items = (f'{{"bbox_2d":[{",".join(_num(c) for c in f.bbox)}],"depth":{_num(f.depth)}}}' for f in areas)
    return "[" + ",".join(items) + "]"


def render_chain(chain: Chain) -> str:
    """Canonical text of a chain. Texts and the answer are inserted verbatim; a tag inside a step text
    (any <word> or </word>) or a chain tag inside the answer raises ValueError, as does a non-finite number."""
    parts = ["<think>\n"]
    for i, step in enumerate(chain.steps, 1):
        m = TAG_RE.search(step.text)
        if m:
            raise ValueError(f"step {i} text contains the tag {m.group(0)!r}")
        parts.append(f"<area>{render_area(step.areas)}</area>\n<text>{step.text}</text>\n")
    for tag in CHAIN_TAGS:
        if tag in chain.answer:
            raise ValueError(f"answer contains the tag {tag!r}")
    parts.append(f"</think>\n<answer>\n{chain.answer}\n</answer>")
    return "".join(parts)


# ---- parse result ----------------------------------------------------------------------------------

@dataclass
class ParsedChain:
    """What parse_chain read (see the module docstring for `areas`); `violations == []` means valid."""
    areas: list[list[Focus]]
    area_ok: list[bool]
    texts: list[str]
    answer: str | None
    violations: list[str]
    truncated: bool = False
    paper_compat: bool = False

    @property
    def valid(self) -> bool:
        return not self.violations

    @property
    def last_boxes(self) -> list[Box]:
        return [f.bbox for f in self.areas[-1]] if self.areas else []

    def to_chain(self) -> Chain | None:
        """The chain, when valid (texts and answer stripped, numbers as parsed). In paper mode the answer
        may hold chain tags, which render_chain refuses."""
        if not self.valid or self.answer is None or len(self.areas) != len(self.texts):
            return None
        return Chain([Step(list(a), t) for a, t in zip(self.areas, self.texts)], self.answer)


# ---- JSON numbers that remember their token ---------------------------------------------------------

class _Num:
    """A JSON number with its source token, so decimals are judged on what the model wrote."""
    __slots__ = ("token", "value", "is_int")

    def __init__(self, token: str, is_int: bool = False, value: float | None = None) -> None:
        self.token, self.is_int = token, is_int
        self.value = float(token) if value is None else value  # float() has no digit limit, unlike int()


def _json_load(raw: str) -> tuple[Any, list[str]]:
    dups: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for k, v in items:
            if k in out:
                dups.append(k)
            out[k] = v
        return out

    data = json.loads(raw, parse_float=_Num, parse_int=lambda t: _Num(t, True),
                      parse_constant=lambda t: _Num(t, False, float(t)), object_pairs_hook=pairs)
    return data, dups


def exact_decimals(token: str) -> int | None:
    """Digits after the point of a JSON number token's exact decimal value, trailing zeros ignored
    ("0.500" -> 1, "1000e-5" -> 2, "1e-05" -> 5); None for an absurd exponent."""
    mant, _, exp_s = token.lstrip("-").replace("E", "e").partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).rstrip("0")
    if not digits.strip("0"):
        return 0
    if len(exp_s.lstrip("+-")) > 9:
        return None
    exp = int(exp_s) if exp_s else 0
    trailing = len(whole + frac) - len(digits)
    return max(0, len(frac) - exp - trailing)


def _decimals_ok(n: Any, compat: bool) -> bool:
    if isinstance(n, bool) or n.is_int:
        return True
    if compat:  # the original: len(str(float).split('.')[1]) <= 3, crashing (-> reject) on '1e-05'
        parts = repr(n.value).split(".")
        return len(parts) == 2 and len(parts[1]) <= 3
    d = exact_decimals(n.token)
    return d is not None and d <= 3


def _is_num(x: Any, compat: bool) -> bool:
    return isinstance(x, _Num) or (compat and isinstance(x, bool))


def _val(x: Any) -> float:
    return float(x) if isinstance(x, bool) else x.value


def _read_item(item: Any, compat: bool) -> tuple[Focus | None, list[str]]:
    """(focus, rule problems) of one area item; (None, [why]) when it is malformed."""
    if not isinstance(item, dict) or "bbox_2d" not in item or "depth" not in item:
        return None, ["is not an object with bbox_2d and depth"]
    bbox, depth = item["bbox_2d"], item["depth"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_num(c, compat) for c in bbox):
        return None, ["bbox_2d is not a list of 4 numbers"]
    if not _is_num(depth, compat):
        return None, ["depth is not a number"]
    x1, y1, x2, y2 = vals = [_val(c) for c in bbox]
    d = _val(depth)
    if not all(math.isfinite(v) for v in (*vals, d)):
        return None, ["non-finite number"]
    problems = []
    if not (x2 > x1 and y2 > y1):
        problems.append("bbox_2d needs x2>x1 and y2>y1")
    if not all(0.0 <= v <= 1.0 for v in vals):
        problems.append("bbox_2d outside [0,1]")
    if not 0.0 <= d <= 1.0:
        problems.append("depth outside [0,1]")
    if not all(_decimals_ok(n, compat) for n in (*bbox, depth)):
        problems.append("a number has more than 3 decimals")
    return Focus((x1, y1, x2, y2), d), problems


def check_area(raw: str, compat: bool = False) -> tuple[list[Focus], list[str]]:
    """(foci, problems) of one <area> block's content; foci are [] unless every item is well formed."""
    try:
        data, dups = _json_load(raw)
    except (ValueError, RecursionError):
        return [], ["not valid JSON"]
    if not isinstance(data, list):
        return [], ["is not a JSON list"]
    problems: list[str] = []
    if not data and not compat:
        problems.append("is an empty list")
    if dups and not compat:
        problems.append(f"duplicate key {dups[0]!r}")
    foci: list[Focus] | None = []
    for j, item in enumerate(data, 1):
        focus, item_problems = _read_item(item, compat)
        problems += [f"item {j}: {p}" for p in item_problems]
        if focus is None or foci is None:
            foci = None
        else:
            foci.append(focus)
    return foci or [], problems


# ---- parsing ---------------------------------------------------------------------------------------

def _span(text: str, open_tag: str, close_tag: str, start: int = 0) -> tuple[int, int] | None:
    """(content start, content end) of the first open_tag...next close_tag at or after `start`, like a
    non-greedy re.search(open(.*?)close, DOTALL)."""
    s = text.find(open_tag, start)
    if s < 0:
        return None
    e = text.find(close_tag, s + len(open_tag))
    return None if e < 0 else (s + len(open_tag), e)


def extract_answer(text: object) -> str | None:
    """The original's `<answer>\\n?(.*?)\\n?</answer>` (DOTALL, first match), stripped; None if absent."""
    if not isinstance(text, str):
        return None
    sp = _span(text[:MAX_CHAIN_CHARS], "<answer>", "</answer>")
    return None if sp is None else text[sp[0]:sp[1]].strip()


def _blocks(region: str, open_tag: str, close_tag: str, limit: int) -> tuple[list[str], bool]:
    """Non-overlapping open...close contents (like re.finditer(open(.*?)close)): (first `limit`, more?)."""
    out: list[str] = []
    pos = 0
    while (sp := _span(region, open_tag, close_tag, pos)) is not None:
        if len(out) == limit:
            return out, True
        out.append(region[sp[0]:sp[1]])
        pos = sp[1] + len(close_tag)
    return out, False


def _quad_pairs(region: str, tags: list[re.Match], compat: bool, v: list[str]) -> list[tuple[str, str]]:
    """(area content, text content) pairs when the tags are exact area//area/text//text groups.

    Fixed mode needs whitespace between groups and between </area> and <text>. Compat mode emulates the
    original's findall(r'<area>(.*?)</area>\\s*<text>(.*?)</text>'): a non-whitespace gap after </area>
    makes the area content run on to the next </area> followed by whitespace and <text>."""
    k = len(tags) // 4
    gap_ok = [_WS_RE.fullmatch(region, tags[4 * i + 1].end(), tags[4 * i + 2].start()) is not None
              for i in range(k)]
    if not compat:
        between = [(tags[4 * i + 3].end(), tags[4 * i + 4].start()) for i in range(k - 1)]
        if not all(gap_ok) or any(region[a:b].strip() for a, b in between):
            v.append("only whitespace may separate the tags inside <think>")
        return [(region[tags[4 * i].end():tags[4 * i + 1].start()],
                 region[tags[4 * i + 2].end():tags[4 * i + 3].start()]) for i in range(k)]
    pairs, i = [], 0
    while i < k:
        j = i
        while j < k and not gap_ok[j]:
            j += 1
        if j == k:
            break
        pairs.append((region[tags[4 * i].end():tags[4 * j + 1].start()],
                      region[tags[4 * j + 2].end():tags[4 * j + 3].start()]))
        i = j + 1
    return pairs


def _outer_violations(text: str, think: tuple[int, int] | None, v: list[str]) -> None:
    """Fixed mode only: one think, one answer, in order, nothing but whitespace around them."""
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        if text.count(tag) > 1:
            v.append(f"more than one {tag}")
    if think is None:
        return
    if text[:think[0] - len("<think>")].strip():
        v.append("text before <think>")
    after = text[think[1] + len("</think>"):]
    rest = after.lstrip()
    if not rest.startswith("<answer>"):
        v.append("<answer> must directly follow </think>")
        return
    close = rest.find("</answer>")
    if close < 0:
        return
    body = rest[len("<answer>"):close]
    for tag in CHAIN_TAGS:
        if tag in body:
            v.append(f"the answer contains {tag}")
    if rest[close + len("</answer>"):].strip():
        v.append("text after </answer>")


def _parse(text: object, compat: bool) -> ParsedChain:
    v: list[str] = []
    if not isinstance(text, str):
        return ParsedChain([], [], [], None, ["not a string"], False, compat)
    truncated = len(text) > MAX_CHAIN_CHARS
    if truncated:
        text = text[:MAX_CHAIN_CHARS]
        v.append(f"longer than {MAX_CHAIN_CHARS} characters (truncated)")
    answer = extract_answer(text)
    think = _span(text, "<think>", "</think>")
    if think is None:
        v.append("missing <think>...</think>")
    if answer is None:
        v.append("missing <answer>...</answer>")
    elif not answer:
        v.append("empty answer")
    if not compat:
        _outer_violations(text, think, v)

    pairs: list[tuple[str, str]] | None = None
    region = ""
    if think is not None:
        region = text[think[0]:think[1]]
        tags = list(TAG_RE.finditer(region))
        names = [m.group(1) for m in tags]
        quads_ok = len(names) % 4 == 0 and all(tuple(names[i:i + 4]) == QUAD for i in range(0, len(names), 4))
        if not quads_ok:
            v.append("tags inside <think> must be repeated <area></area><text></text> groups")
        stripped = region.strip()
        ends_ok = stripped.startswith("<area>") and stripped.endswith("</text>")
        if not ends_ok:
            v.append("<think> must start with <area> and end with </text>")
        if quads_ok and ends_ok:
            pairs = _quad_pairs(region, tags, compat, v)
            if not pairs:
                v.append("no <area>...</area><text>...</text> pair inside <think>")
    if pairs is not None:
        if len(pairs) > MAX_AREAS:
            v.append(f"more than {MAX_AREAS} areas")
            pairs = pairs[:MAX_AREAS]
        raw_areas, raw_texts = [p[0] for p in pairs], [p[1] for p in pairs]
    else:  # best effort on a broken structure (the chain is already invalid)
        if think is None and (s := text.find("<think>")) >= 0:  # unclosed: read up to <answer> or the end
            e = text.find("<answer>", s)
            region = text[s + len("<think>"):e if e >= 0 else len(text)]
        raw_areas, over_a = _blocks(region, "<area>", "</area>", MAX_AREAS)
        raw_texts, over_t = _blocks(region, "<text>", "</text>", MAX_AREAS)
        if over_a or over_t:
            v.append(f"more than {MAX_AREAS} areas")

    areas: list[list[Focus]] = []
    area_ok: list[bool] = []
    for i, raw in enumerate(raw_areas, 1):
        foci, problems = check_area(raw, compat)
        areas.append(foci)
        area_ok.append(not problems)
        for p in problems:
            v.append(f"area {i}: {p}")
    texts = [t.strip() for t in raw_texts]
    for i, t in enumerate(texts, 1):
        if not t:
            v.append(f"text {i} is empty")
    if len(v) > MAX_VIOLATIONS:
        v = v[:MAX_VIOLATIONS] + [f"... and {len(v) - MAX_VIOLATIONS} more violations"]
    return ParsedChain(areas, area_ok, texts, answer, v, truncated, compat)


def parse_chain(text: object, paper_compat: bool = False) -> ParsedChain:
    """Parse untrusted model output. Never raises: any input gives a ParsedChain."""
    try:
        return _parse(text, paper_compat)
    except Exception as exc:  # noqa: BLE001 - defensive; the tests look for this message
        return ParsedChain([], [], [], None, [f"internal parser error: {type(exc).__name__}"], False,
                           paper_compat)


def validate_chain(text: object, paper_compat: bool = False) -> list[str]:
    """Strict-format violations ([] means valid)."""
    return parse_chain(text, paper_compat).violations


def extract_areas(text: object, paper_compat: bool = False) -> list[list[Box]]:
    """Boxes per <area> block inside <think> (see ParsedChain.areas)."""
    return [[f.bbox for f in a] for a in parse_chain(text, paper_compat).areas]


def paper_area_content(text: object, key: str = "bbox_2d") -> list[list[Any]]:
    """The original's extract_area_content / extract_depth_content (spec 3.6), for paper-mode rewards.

    Every <area>...</area> of the WHOLE text (not just <think>), json.loads'ed, then read with the original's
    loose tests on untyped JSON: a list gives item[key] for each item where `key in item` holds (a dict
    with the key; a string CONTAINING it, whose indexing then fails); a dict gives [dict[key]] when it has
    the key, else []; a string gives [] unless it contains the key. Wherever the original raised (invalid
    JSON, `key in 5` / `in None` / `in true`, indexing a string or list) the values read so far are kept and
    [] is appended: `[{"bbox_2d": B}, 5]` -> [B, []], a broken or scalar area -> [[]]. Values are raw JSON
    (numbers as strings stay strings), as the original's rewards saw them. Bounded by MAX_CHAIN_CHARS /
    MAX_AREAS (the original read everything)."""
    if not isinstance(text, str):
        return []
    out: list[list[Any]] = []
    for raw in _blocks(text[:MAX_CHAIN_CHARS], "<area>", "</area>", MAX_AREAS)[0]:
        values: list[Any] = []
        try:
            data = json.loads(raw)
            if isinstance(data, list):
                for item in data:
                    if key in item:
                        values.append(item[key])
            elif key in data:
                values.append(data[key])
        except Exception:  # noqa: BLE001 - the original caught everything here, keeping what it had read
            values.append([])
        out.append(values)
    return out
