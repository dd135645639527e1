"""sif.chain: exact rendering, strict vs paper validation, a port of the original validator as oracle,
round trips and never-raising parsing of hostile text."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sif.chain import (CHAIN_TAGS, MAX_AREAS, MAX_CHAIN_CHARS, TAG_RE, Chain, Focus, ParsedChain, Step,
                       exact_decimals, extract_answer, extract_areas, paper_area_content, parse_chain,
                       render_chain, validate_chain)

FAST = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def original_validate(text: str) -> bool:
    """A direct port of the original `validate_format` (spec 3.6 (1)): the oracle for paper_compat."""
    try:
        tm = re.search(r"<think>(.*?)</think>", text, re.DOTALL)
        am = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
        if not tm or not am or not am.group(1).strip():
            return False
        think = tm.group(1)
        tags = re.findall(r"<(/?\w+)>", think)
        if len(tags) % 4 or any(tags[i:i + 4] != ["area", "/area", "text", "/text"] for i in range(0, len(tags), 4)):
            return False
        s = think.strip()
        if not (s.startswith("<area>") and s.endswith("</text>")):
            return False
        pairs = re.findall(r"<area>(.*?)</area>\s*<text>(.*?)</text>", think, re.DOTALL)
        if not pairs:
            return False
        for a, t in pairs:
            data = json.loads(a)
            if not isinstance(data, list):
                return False
            for item in data:
                if "bbox_2d" not in item or "depth" not in item:
                    return False
                b, d = item["bbox_2d"], item["depth"]
                if not (isinstance(b, list) and len(b) == 4 and all(isinstance(c, (int, float)) for c in b)):
                    return False
                if not (b[2] > b[0] and b[3] > b[1] and all(0 <= c <= 1 for c in b)):
                    return False
                if not isinstance(d, (int, float)) or not 0 <= d <= 1:
                    return False
                for c in (*b, d):
                    if isinstance(c, float) and len(str(c).split(".")[1]) > 3:
                        return False
            if not t.strip():
                return False
        return True
    except Exception:  # noqa: BLE001 - the original returned 0 on any exception
        return False


def mk(area: str = '[{"bbox_2d":[0.1,0.2,0.3,0.4],"depth":0.5}]', text: str = "t", answer: str = "A") -> str:
    return f"<think><area>{area}</area><text>{text}</text></think><answer>{answer}</answer>"


def two(g1: str, g2: str) -> str:
    """Two steps with gap g1 between </area> and <text> and gap g2 between the steps."""
    return ('<think><area>[{"bbox_2d":[0,0,1,1],"depth":0.5}]</area>' + g1 + "<text>whole</text>" + g2 +
            '<area>[{"bbox_2d":[0.1,0.2,0.3,0.4],"depth":0.25}]</area><text>zoom</text></think><answer>B</answer>')


# ---- rendering -------------------------------------------------------------------------------------

def test_render_exact_text():
    chain = Chain([Step([Focus((0, 0, 1, 1), 0.5)], "the whole image"),
                   Step([Focus((0.1, 0.2, 0.3, 0.4), 0.25), Focus((0.5, 0.5, 0.6, 0.7), 1.0)], "zoom in")], "(A) red")
    assert render_chain(chain) == (
        '<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n<text>the whole image</text>\n'
        '<area>[{"bbox_2d":[0.100,0.200,0.300,0.400],"depth":0.250},{"bbox_2d":[0.500,0.500,0.600,0.700],"depth":1.000}]'
        '</area>\n<text>zoom in</text>\n</think>\n<answer>\n(A) red\n</answer>')
    # numbers are formatted, not repr'd; -0.0004 rounds to 0.000 without a minus sign
    odd = render_chain(Chain([Step([Focus((-0.0004, 0.12345, 0.9996, 1e-9), 0.0005)], "t")], "A"))
    assert '<area>[{"bbox_2d":[0.000,0.123,1.000,0.000],"depth":0.001}]</area>' in odd  # 0.0005 is 0.00050000..01


@pytest.mark.parametrize("text", ["<b>bold</b>", "a </text> b", "<area>", "x<think>", "<answer>", "<3>"])
def test_render_rejects_tags_in_text(text):
    with pytest.raises(ValueError):
        render_chain(Chain([Step([Focus((0, 0, 1, 1), 0.5)], text)], "A"))


def test_render_rejects_chain_tags_in_answer_and_non_finite_numbers():
    for ans in ("</answer>", "x <think>", "<area>", "</text>"):
        with pytest.raises(ValueError):
            render_chain(Chain([Step([Focus((0, 0, 1, 1), 0.5)], "t")], ans))
    assert "<b>" in render_chain(Chain([Step([Focus((0, 0, 1, 1), 0.5)], "t")], "<b>A</b>"))
    for bad in (Focus((0, 0, float("nan"), 1), 0.5), Focus((0, 0, 1, 1), float("inf"))):
        with pytest.raises(ValueError):
            render_chain(Chain([Step([bad], "t")], "A"))


# ---- parsing by hand -------------------------------------------------------------------------------

def test_parse_hand_values():
    text = ("\n<think>\n <area> [ {\"bbox_2d\": [0.1, 0.2, 0.3, 0.4], \"depth\": 0.25, \"label\": \"cup\"} ] </area>\n"
            "<text>  look here \n</text>\n</think>\n<answer>\n (B) \n</answer>\n")
    p = parse_chain(text)
    assert isinstance(p, ParsedChain) and p.valid and p.violations == [] and not p.truncated
    assert p.areas == [[Focus((0.1, 0.2, 0.3, 0.4), 0.25)]] and p.area_ok == [True]
    assert p.texts == ["look here"] and p.answer == "(B)"
    assert p.last_boxes == [(0.1, 0.2, 0.3, 0.4)]
    assert p.to_chain() == Chain([Step([Focus((0.1, 0.2, 0.3, 0.4), 0.25)], "look here")], "(B)")
    assert extract_areas(text) == [[(0.1, 0.2, 0.3, 0.4)]]
    assert validate_chain(text) == [] and validate_chain(text, paper_compat=True) == []


def test_broken_structure_is_parsed_best_effort():
    p = parse_chain(two("", " junk "))
    assert not p.valid and p.to_chain() is None
    assert [len(a) for a in p.areas] == [1, 1] and p.texts == ["whole", "zoom"] and p.answer == "B"
    p = parse_chain('<think><area>[{"bbox_2d":[0,0,1,1],"depth":0.5}]</area><text>x</text><area>[1,2]</area>')
    assert p.areas == [[Focus((0.0, 0.0, 1.0, 1.0), 0.5)], []] and p.area_ok == [True, False]
    assert p.last_boxes == [] and p.answer is None
    # out-of-range boxes are kept for the box rewards but flagged
    p = parse_chain(mk('[{"bbox_2d":[0.5,0.2,0.3,1.4],"depth":0.5}]'))
    assert p.areas == [[Focus((0.5, 0.2, 0.3, 1.4), 0.5)]] and p.area_ok == [False] and len(p.violations) == 2


def test_extract_answer():
    assert extract_answer("<answer>\nA\n</answer>") == "A"
    assert extract_answer("x<answer>  B </answer><answer>C</answer>") == "B"
    assert extract_answer("<answer>\nline 1\nline 2\n</answer>") == "line 1\nline 2"
    assert extract_answer("<answer></answer>") == ""
    for none in ("<answer>A", "A</answer>", "", None, 5, b"<answer>A</answer>"):
        assert extract_answer(none) is None


@pytest.mark.parametrize("value", [None, 5, 1.5, b"<think>", ["<think>"], {"a": 1}, object()])
def test_non_strings(value):
    p = parse_chain(value)
    assert p.violations == ["not a string"] and p.areas == [] and p.answer is None and not p.valid
    assert validate_chain(value, paper_compat=True) == ["not a string"] and extract_areas(value) == []


def test_exact_decimals():
    cases = {"0.5": 1, "0.500": 1, "5e-1": 1, "1000e-5": 2, "1e-05": 5, "0.1234": 4, "1": 0, "100": 0,
             "12.5e1": 0, "0.0": 0, "0e-99999999999": 0, "-0.125": 3, "0.1230000000000000001": 19,
             "1E-3": 3, "1e-99999999999": None}
    for token, want in cases.items():
        assert exact_decimals(token) == want, token


# ---- strict vs paper rules -------------------------------------------------------------------------

B = '"bbox_2d":[0.1,0.2,0.3,0.4]'
CASES = [  # (text, fixed valid, paper valid)
    (mk(), True, True),
    ("  \n<think>\n <area>\n[{\"bbox_2d\":[0,0,1,1],\"depth\":0}]\n</area> \n <text> t </text>\n</think>\n\n<answer>\nA\n</answer>\n",
     True, True),
    (mk(f'[{{{B},"depth":0.500}}]'), True, True),
    (mk(f'[{{{B},"depth":5e-1}}]'), True, True),
    (mk(f'[{{{B},"depth":0.5,"label":"cup"}}]'), True, True),  # extra keys allowed
    (mk(f'[{{{B},"depth":0.5}},{{"bbox_2d":[0,0,1,1],"depth":1}}]'), True, True),
    (two("\n", "\n"), True, True),
    (mk("[]"), False, True),  # (b) empty area
    (mk(f'[{{{B},"depth":0.1230000000000000001}}]'), False, True),  # (a) str(float) hides digits
    (mk(f'[{{{B},"depth":1e-05}}]'), False, False),  # (a) the original crashed here
    (mk(f'[{{{B},"depth":0.1234}}]'), False, False),
    (mk('[{"bbox_2d":[false,false,true,true],"depth":0.5}]'), False, True),  # (d) booleans
    (mk(f'[{{{B},"depth":true}}]'), False, True),
    (mk(f'[{{{B},"depth":NaN}}]'), False, False),
    (mk(f'[{{{B},"depth":Infinity}}]'), False, False),
    (mk(f'[{{{B},"depth":1e999}}]'), False, False),
    (mk(f'[{{{B},"depth":0.5,"depth":0.5}}]'), False, True),  # (e) duplicate key
    (mk('[{"bbox_2d":[0.3,0.2,0.3,0.4],"depth":0.5}]'), False, False),  # x2 == x1
    (mk('[{"bbox_2d":[0.1,0.4,0.3,0.2],"depth":0.5}]'), False, False),
    (mk('[{"bbox_2d":[0.1,0.2,1.2,0.4],"depth":0.5}]'), False, False),
    (mk('[{"bbox_2d":[-0.1,0.2,0.3,0.4],"depth":0.5}]'), False, False),
    (mk(f'[{{{B},"depth":1.5}}]'), False, False),
    (mk(f'{{{B},"depth":0.5}}'), False, False),  # a dict, not a list
    (mk(f'[{{{B}}}]'), False, False),
    (mk('[{"bbox_2d":[0.1,0.2,0.3],"depth":0.5}]'), False, False),
    (mk('[{"bbox_2d":["0.1",0.2,0.3,0.4],"depth":0.5}]'), False, False),
    (mk('[{"bbox_2d":[0.1,0.2,0.3,0.4],"depth":0.5}'), False, False),  # bad JSON
    (mk('["bbox_2d depth"]'), False, False),
    (mk(text=""), False, False),
    (mk(text=" \n "), False, False),
    (mk(answer=" "), False, False),
    (mk(text="a <b>bold</b>"), False, False),
    (mk().replace("<answer>A</answer>", ""), False, False),
    (mk().replace("<think>", ""), False, False),
    ("<think></think><answer>A</answer>", False, False),
    ("<think><text>t</text><area>[]</area></think><answer>A</answer>", False, False),
    ("<think>so <area>[]</area><text>t</text></think><answer>A</answer>", False, False),
    ("Sure! " + mk(), False, True),  # (c) text outside
    (mk() + " done", False, True),
    (mk() + "<answer>B</answer>", False, True),
    ("<answer>A</answer>" + mk().replace("<answer>A</answer>", ""), False, True),
    (mk(answer="A <area>"), False, True),
    (two("", " junk "), False, True),  # the original's findall skips it
    (two(" junk ", ""), False, False),  # ...but not here: the area runs on, JSON fails
]


@pytest.mark.parametrize("text,fixed,paper", CASES)
def test_fixed_and_paper_rules(text, fixed, paper):
    assert parse_chain(text).valid is fixed, parse_chain(text).violations
    assert parse_chain(text, paper_compat=True).valid is paper, parse_chain(text, paper_compat=True).violations
    assert original_validate(text) is paper  # the oracle agrees with the expectations
    assert all(isinstance(v, str) and v for v in validate_chain(text))


def test_paper_mode_booleans_are_numbers():
    p = parse_chain(mk('[{"bbox_2d":[false,false,true,true],"depth":true}]'), paper_compat=True)
    assert p.to_chain() == Chain([Step([Focus((0.0, 0.0, 1.0, 1.0), 1.0)], "t")], "A")
    assert parse_chain(mk("[]"), paper_compat=True).to_chain() == Chain([Step([], "t")], "A")


def test_bounds_truncation_and_area_cap():
    one = '<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area><text>t</text>'
    huge = "<think>" + one * 5000 + "</think><answer>A</answer>"
    p = parse_chain(huge)
    assert p.truncated and not p.valid and len(p.areas) == MAX_AREAS and p.areas[0] == [Focus((0, 0, 1, 1), 0.5)]
    fits = "<think>" + '<area>[{"bbox_2d":[0,0,1,1],"depth":0}]</area><text>t</text>' * 1500 + "</think><answer>A</answer>"
    assert len(fits) < MAX_CHAIN_CHARS
    for compat in (False, True):
        p = parse_chain(fits, compat)
        assert not p.truncated and f"more than {MAX_AREAS} areas" in p.violations and len(p.areas) == MAX_AREAS


@pytest.mark.parametrize("hostile", [
    "<think>" * 30_000, "<area>" * 20_000, "<" * 99_999, "<think><area>" + "a" * 99_000,
    "<think><area>" + "[" * 90_000 + "</area><text>x</text></think><answer>a</answer>",
    "<think>" + "<area></area><text></text>" * 4000 + "</think>", "<think><area>" + "</area> x <text>t</text>" * 4000,
    "<answer>" * 12_000 + "</answer>", "<think>" + '<area>["' + "\\" * 99_000,
])
def test_hostile_inputs_are_refused(hostile):
    """Refused without an internal error; the speed is measured by benchmarks/hostile_inputs.py."""
    for compat in (False, True):
        p = parse_chain(hostile, compat)
        assert not p.valid
        assert not any(v.startswith("internal parser error") for v in p.violations)


def test_paper_area_content():
    text = ('<area>[{"bbox_2d":[0,0,1,1],"depth":0.5},{"x":1}]</area> <area>{"bbox_2d":[1,2,3,4]}</area>'
            '<area>oops</area><area>[1]</area><area>"s"</area>'
            '<think><area>[{"bbox_2d":[0.1,0.2,0.3,0.4],"depth":0.1}]</area></think>')
    assert paper_area_content(text) == [[[0, 0, 1, 1]], [[1, 2, 3, 4]], [[]], [[]], [],
                                        [[0.1, 0.2, 0.3, 0.4]]]
    assert paper_area_content(text, "depth") == [[0.5], [], [[]], [[]], [], [0.1]]  # a dict without the key: []
    # what the original kept when it raised part-way, and scalars (issue 15, checked against the port)
    partly = '<area>[{"bbox_2d":[0.2,0.3,0.5,0.7],"depth":0.5}, 5]</area><area>5</area><area>null</area><area>true</area>'
    assert paper_area_content(partly) == [[[0.2, 0.3, 0.5, 0.7], []], [[]], [[]], [[]]]
    assert paper_area_content(partly, "depth") == [[0.5, []], [[]], [[]], [[]]]
    assert paper_area_content(None) == []


# ---- properties ------------------------------------------------------------------------------------

texts = st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and not TAG_RE.search(t))
answers = st.text(min_size=1, max_size=15).filter(lambda a: a.strip() and not any(g in a for g in CHAIN_TAGS))


def thousandths_focus(rng: random.Random) -> Focus:
    """A focus valid after rounding: grid values in thousandths plus noise that rounds away."""
    x1, x2 = sorted(rng.sample(range(1001), 2))
    y1, y2 = sorted(rng.sample(range(1001), 2))
    v = [k / 1000 + rng.uniform(-0.0004, 0.0004) for k in (x1, y1, x2, y2, rng.randint(0, 1000))]
    return Focus((v[0], v[1], v[2], v[3]), v[4])


SPECIAL = [0.0, -0.0, 0.0005, -0.0005, 0.9995, 1.0005, 1e-9, -1e-9, 1e300, -1e300, 5e-324, 0.1234567]


def any_focus(rng: random.Random) -> Focus:
    """Any finite numbers: edge values mixed with wide random magnitudes."""
    def num() -> float:
        return rng.choice(SPECIAL) if rng.random() < 0.3 else rng.uniform(-2, 2) * 10 ** rng.randint(-6, 12)
    return Focus((num(), num(), num(), num()), num())


PIECES = ["a", "Z", " ", "\n", "\t", "\x85", "\u00a0", "\u2028", "<", ">", "/", '"', "\\", "{", "[", "]",
          "é", "中", "😀", "area", "text", "think", "0.5", "</", "<area", "text>", "\x00"]


def rng_text(rng: random.Random) -> str:
    """A tag-free, non-blank text from tricky pieces (a seeded stand-in for st.text: much faster)."""
    while True:
        t = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        if t.strip() and not TAG_RE.search(t):
            return t


@st.composite
def chains(draw, focus=thousandths_focus, min_areas: int = 1) -> Chain:
    """Numbers and later texts from a seeded generator (fast); the first text and the answer from
    Hypothesis (arbitrary unicode)."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    step_texts = [draw(texts)] + [rng_text(rng) for _ in range(rng.randint(0, 3))]
    steps = [Step([focus(rng) for _ in range(rng.randint(min_areas, 3))], t) for t in step_texts]
    return Chain(steps, draw(answers))


def r3(v: float) -> float:
    return float(f"{v:.3f}")


def rounded(chain: Chain) -> Chain:
    return Chain([Step([Focus(tuple(r3(c) for c in f.bbox), r3(f.depth)) for f in s.areas], s.text.strip())
                  for s in chain.steps], chain.answer.strip())


@FAST
@given(chains())
def test_render_parse_round_trip(chain):
    text = render_chain(chain)
    for compat in (False, True):
        p = parse_chain(text, compat)
        assert p.violations == [], p.violations
        assert p.to_chain() == rounded(chain)
    assert original_validate(text)


@settings(max_examples=500, deadline=None)
@given(chains(any_focus, min_areas=0))
def test_areas_round_trip_for_any_finite_numbers(chain):
    p = parse_chain(render_chain(chain))
    want = rounded(chain)
    assert p.areas == [s.areas for s in want.steps] and p.texts == [s.text for s in want.steps]
    assert p.answer == want.answer


def _check_invariants(text: str) -> None:
    fixed, paper = parse_chain(text), parse_chain(text, paper_compat=True)
    for p in (fixed, paper):
        assert isinstance(p, ParsedChain)
        assert not any(v.startswith("internal parser error") for v in p.violations)
        assert len(p.areas) == len(p.area_ok) <= MAX_AREAS and p.valid == (p.violations == [])
        assert p.answer == extract_answer(text)
        assert (p.to_chain() is not None) == p.valid
    assert paper.valid == original_validate(text)
    if fixed.valid:
        assert paper.valid and paper.to_chain() == fixed.to_chain()
        again = parse_chain(render_chain(fixed.to_chain()))  # canonical form is a fixed point
        assert again.valid and again.to_chain() == fixed.to_chain()


@FAST
@given(st.text())
def test_arbitrary_text_never_raises(text):
    _check_invariants(text)


FRAGMENTS = list(CHAIN_TAGS) + ["<b>", "[", "]", "{", "}", '"bbox_2d":', '"depth":', "[0.1,0.2,0.3,0.4]", "0.5",
                                "1e-05", "true", "NaN", ",", " ", "\n", "x", "<", ">", "/", "[]", '"',
                                '{"bbox_2d":[0,0,1,1],"depth":0.5}', "0.1234", "-1"]


PAIRS = [
    '<area>[{"bbox_2d":[0,0,1,1],"depth":0.5}]</area><text>t</text>', '<area>[]</area>\n<text>u</text>',
    '<area>[{"bbox_2d":[0.1,0.2,0.3,0.4],"depth":0.250}]</area> <text> v </text>\n',
    '<area>[{"bbox_2d":[false,false,true,true],"depth":true}]</area><text>w</text>',
    '<area>[{"bbox_2d":[0,0,1,1],"depth":0.1230000000000000001}]</area><text>t</text>',
    '<area>[{"bbox_2d":[0,0,1,1],"depth":1e-05}]</area><text>t</text>',
    '<area>[{"bbox_2d":[0,0,1,1],"depth":0.5,"depth":0.5}]</area><text>t</text>',
    '<area>{"bbox_2d":[0,0,1,1],"depth":0.5}</area><text>t</text>', "<text></text>",
]


def near_chain(rng: random.Random) -> str:
    """Grammar-shaped soup: mostly area/text pairs (good and subtly bad), some fragments and junk."""
    units = [rng.choice(PAIRS) if rng.random() < 0.8 else rng.choice(FRAGMENTS + [" junk "])
             for _ in range(rng.randint(1, 5))]
    body = "".join(units)
    parts = ["", "", "", "", "", "\n", " x ", "<answer>B</answer>", "<think>"]
    answer = rng.choice(["A", "A", "A", "", " ", "<area>", "a\nb"])
    if rng.random() < 0.2:
        return body + rng.choice(parts)
    return f"{rng.choice(parts)}<think>{body}</think>{rng.choice(parts)}<answer>{answer}</answer>{rng.choice(parts)}"


seeds = st.integers(0, 2**32 - 1)


@FAST
@given(seeds)
def test_tag_soup_never_raises(seed):
    _check_invariants(near_chain(random.Random(seed)))


def mutate(text: str, rng: random.Random) -> str:
    """1-4 random edits: insert a fragment or whitespace, delete, duplicate or move a slice, repeat a step."""
    for _ in range(rng.randint(1, 4)):
        i, j = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
        op = rng.randrange(6)
        if op == 0:
            text = text[:i] + rng.choice(FRAGMENTS) + text[i:]
        elif op == 1:
            text = text[:i] + text[j:]
        elif op == 2:
            text = text[:j] + text[i:j] + text[j:]
        elif op == 3:
            text = text[:i] + text[j:] + text[i:j]
        elif op == 4:
            text = text[:i] + rng.choice([" ", "\n", "\t", "\r\n"]) + text[i:]
        else:  # repeat one whole <area>...</text> step (keeps a valid chain valid)
            a = text.find("<area>", i)
            b = text.find("</text>", a)
            if a >= 0 and b >= 0:
                text = text[:a] + text[a:b + 7] + text[a:]
    return text


@FAST
@given(chains(), seeds)
def test_mutated_chains_never_raise(chain, seed):
    _check_invariants(mutate(render_chain(chain), random.Random(seed)))
