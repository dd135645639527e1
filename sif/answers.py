"""Answer normalisation and matching, shared by the rule-based answer reward and every benchmark scorer.

Model output is untrusted: everything here is regexes with bounded (linear) work, never `eval`, and no
function raises on arbitrary text.

Matching rules (strict on purpose; the original scripts' substring tests are reproduced only by the
benchmarks' `compat` mode):

* multiple choice (`choices` given; the ground truth is a letter such as "B" or "(B)"): the prediction's
  letter comes from `extract_choice_letter`, which refuses letters inside words, articles read as
  option "A", out-of-range letters and answers naming two different letters (an answer that mentions
  two options, even to reject one, is wrong). An answer equal to a choice's text names that choice,
  and this wins over reading it as a letter (choices ["B", "A"]: the answer "A" names option B);
* numeric ground truth ("3", "three", "3.0"): `parse_number` on the prediction (exactly one number in
  it), equal within a relative tolerance;
* yes/no ground truth: the prediction's first word is that yes/no and the other one never appears;
* other free text: the normalised strings are equal, or equal after dropping the filler words in
  `FILLER_WORDS` from both ("left" == "to the left" == "on the left side"), provided the ground truth
  keeps a content word. Plain substring containment is NOT used ("not left" contains "left").
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

from sif.prompt import CHOICE_LETTERS

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}
ARTICLES = frozenset({"a", "an", "the"})
# Words that carry no answer content; dropped from both sides before the free-text comparison.
FILLER_WORDS = frozenset({
    "to", "on", "in", "at", "of", "is", "it", "its", "s", "side", "hand", "located", "positioned",
    "position", "answer", "final", "toward", "towards", "direction", "one", "object", "that", "this",
    "which", "there", "i", "think", "so", "part", "region",
})
YES_NO = ("yes", "no")

_COMMA_IN_NUMBER = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# a token is a decimal number standing alone, or a run of letters/digits; everything else separates
_TOKEN = re.compile(r"\d+(?:\.\d+)?(?![^\W_])|[^\W_]+")
_NUMBER_TOKEN = re.compile(r"\d+(?:\.\d+)?")

# Letter patterns (see extract_choice_letter). Each is linear: no nested quantifiers.
_WHOLE_LETTER = re.compile(r"\W*([A-Ja-j])\W*")
_PAREN_LETTER = re.compile(r"\(\s*([A-Ja-j])\s*\)")
_DELIM_LETTER = re.compile(r"(?<![\w'\u2019\-])([A-J])(?:[.:)](?!\w)|\s*$)")
_KEYWORD_LETTER = re.compile(
    r"\b(?:option|choice|answer)(?:\s+(?:is|was|would\s+be|should\s+be|will\s+be))?"
    r"[\s:*\"'`=\-]{0,8}\(?\s{0,3}([A-Ja-j])(?![\w'\u2019])",
    re.IGNORECASE,
)
_LEADING_LETTER = re.compile(r"\s*\*{0,2}([A-J])(?=\s+\S)")
_GT_LETTER = re.compile(r"\s*\(?\s*([A-Ja-j])\s*\)?\s*")


def _tokens(text: str, numbers: bool = True) -> list[str]:
    """Lower-case word/number tokens without articles; `numbers`: number words as digits."""
    out = []
    for tok in _TOKEN.findall(_COMMA_IN_NUMBER.sub("", text.lower())):
        if tok in ARTICLES:
            continue
        num = NUMBER_WORDS.get(tok) if numbers else None
        out.append(str(num) if num is not None else tok)
    return out


def normalize_answer(text: str) -> str:
    """Lower case, punctuation to spaces (a decimal point between digits and digit-group commas are
    kept/removed as numbers need), articles dropped, number words zero..twenty as digits, one space."""
    if not isinstance(text, str):
        return ""
    return " ".join(_tokens(text))


def _num_letters(choices: Optional[Sequence[str]], num_choices: Optional[int]) -> int:
    n = len(CHOICE_LETTERS)
    if num_choices is not None:
        n = max(0, min(int(num_choices), n))
    if choices is not None:
        n = min(len(choices), n)
    return n


def _choice_norm(text: str) -> str:
    """normalize_answer, but a text made only of articles keeps them ("A" as a choice text is "a")."""
    return normalize_answer(text) or " ".join(text.lower().split())


_WORD_AFTER = re.compile(r"\s+[A-Za-z]")
_LOWER_LETTER_PROSE = re.compile(r"\s*[A-Za-z0-9]")


def _article_like(letter: str, text: str, pos: int) -> bool:
    """'A red cube' / 'I think': a one-letter English word followed by another word, not an option."""
    return letter.upper() in ("A", "I") and _WORD_AFTER.match(text, pos) is not None


def _letter_candidates(text: str) -> set[str]:
    found: set[str] = set()
    whole = _WHOLE_LETTER.fullmatch(text)
    if whole:
        return {whole.group(1).upper()}
    for m in _PAREN_LETTER.finditer(text):
        found.add(m.group(1).upper())
    for m in _DELIM_LETTER.finditer(text):
        found.add(m.group(1))
    for m in _KEYWORD_LETTER.finditer(text):
        letter = m.group(1)
        if letter.islower() and _LOWER_LETTER_PROSE.match(text, m.end()):
            continue  # "the answer is a red cube": a lower-case letter followed by a word is prose
        if not _article_like(letter, text, m.end()):
            found.add(letter.upper())
    lead = _LEADING_LETTER.match(text)
    if lead and not _article_like(lead.group(1), text, lead.end()):
        found.add(lead.group(1))
    return found


def extract_choice_letter(answer: Optional[str], choices: Optional[Sequence[str]] = None,
                          num_choices: Optional[int] = None) -> Optional[str]:
    """The option letter an answer names, or None when it names none, several, or one out of range.

    Order: (1) the normalised text equals exactly one choice's normalised text -> that choice's letter;
    (2) marked letters: the whole answer is a letter ("B", "(b)", "**B**"), a parenthesised letter
    "(B)", a capital followed by '.', ':' or ')' or the end ("B.", "B: red", "B) red", "... is B"), a
    letter after "option"/"choice"/"answer (is)" ("Option B", "The answer is B"), or a leading capital
    followed by a word ("B red"). Letters inside words never count ("Bigger"), and "A"/"I" followed by a
    word are read as English words ("A red cube ...", "I think ..."). Two different letters -> None.
    """
    if not isinstance(answer, str):
        return None
    text = answer.strip()
    if not text:
        return None
    n = _num_letters(choices, num_choices)
    if choices:
        norm = _choice_norm(text)
        hits = [i for i, c in enumerate(choices) if isinstance(c, str) and norm and _choice_norm(c) == norm]
        if len(hits) == 1 and hits[0] < n:
            return CHOICE_LETTERS[hits[0]]
        if len(hits) > 1:
            return None
    letters = _letter_candidates(text)
    if len(letters) != 1:
        return None
    letter = letters.pop()
    return letter if CHOICE_LETTERS.index(letter) < n else None


def parse_number(text: Optional[str]) -> Optional[float]:
    """The one number in `text` ("3", "three", "3.0", "There are 3 cubes" -> 3.0); None when there is
    no number, more than one ("3 or 4"), or it is not finite. Signs are ignored (counts are >= 0)."""
    if not isinstance(text, str):
        return None
    nums = [t for t in _tokens(text) if _NUMBER_TOKEN.fullmatch(t)]
    if len(nums) != 1:
        return None
    try:
        value = float(nums[0])
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def gt_letter(gt: str, choices: Optional[Sequence[str]]) -> Optional[str]:
    """The ground truth's option letter: "B" / "(B)", else the letter of the choice whose text it is."""
    if not isinstance(gt, str):
        return None
    m = _GT_LETTER.fullmatch(gt)
    n = _num_letters(choices, None)
    if m and CHOICE_LETTERS.index(m.group(1).upper()) < n:
        return m.group(1).upper()
    if choices:
        norm = _choice_norm(gt)
        hits = [i for i, c in enumerate(choices) if isinstance(c, str) and _choice_norm(c) == norm]
        if len(hits) == 1:
            return CHOICE_LETTERS[hits[0]]
    return None


def _is_number_text(norm: str) -> bool:
    return _NUMBER_TOKEN.fullmatch(norm) is not None


def _content(text: str) -> list[str]:
    """Tokens without filler words (checked before number words become digits: "the one on the left")."""
    raw = [t for t in _tokens(text, numbers=False) if t not in FILLER_WORDS]
    return [str(NUMBER_WORDS[t]) if t in NUMBER_WORDS else t for t in raw]


def answers_match(pred: Optional[str], gt: str, choices: Optional[Sequence[str]] = None,
                  number_tolerance: float = 0.0) -> bool:
    """Whether the predicted answer text matches the ground truth (see the module docstring)."""
    if not isinstance(pred, str) or not isinstance(gt, str):
        return False
    if choices:
        want = gt_letter(gt, choices)
        return want is not None and extract_choice_letter(pred, choices) == want
    ng_tokens, np_tokens = _tokens(gt), _tokens(pred)
    ng, np_ = " ".join(ng_tokens), " ".join(np_tokens)
    if not ng:
        return False
    if _is_number_text(ng):
        g, p = float(ng), parse_number(pred)
        return p is not None and abs(p - g) <= max(0.0, number_tolerance) * abs(g)
    if np_ == ng:
        return True
    if ng in YES_NO:
        other = YES_NO[1 - YES_NO.index(ng)]
        return bool(np_tokens) and np_tokens[0] == ng and other not in np_tokens
    core_gt = _content(gt)
    return bool(core_gt) and core_gt == _content(pred)
