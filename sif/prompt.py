"""The one prompt wording shared by SFT, GRPO, eval and inference (spec 1.6/4: RGB + depth, labelled).

The paper used two wordings (SFT said "bounding box with depth", RL/eval did not) and dropped the depth
image in RL; we use a single sentence and the same two-image layout everywhere.
"""

from __future__ import annotations

from typing import Sequence

INSTRUCTION = (
    "Please first output the thinking process in <think> </think> tags, where bounding box with depth is "
    "enclosed in <area> </area> tags and text analysis is enclosed in <text> </text> tags, alternating "
    "between them to iteratively refine the focused area. Then output the final answer in <answer> </answer> tags."
)

CHOICE_LETTERS = "ABCDEFGHIJ"


def format_question(question: str, choices: Sequence[str] | None = None) -> str:
    """The question text, with lettered options when the question is multiple-choice."""
    question = question.strip()
    if not choices:
        return question
    options = "\n".join(f"({CHOICE_LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{question}\nOptions:\n{options}\nAnswer with the option's letter."


def user_text(question: str, choices: Sequence[str] | None = None) -> str:
    return f"{format_question(question, choices)} {INSTRUCTION}"


def build_messages(question: str, choices: Sequence[str] | None = None, with_depth: bool = True,
                   answer: str | None = None) -> list[dict]:
    """Chat messages in the processor's multimodal format; images are referenced by {"type": "image"}
    placeholders in order (RGB first, then depth). With `answer`, an assistant turn is appended (SFT)."""
    content: list[dict] = [{"type": "text", "text": "Original image: "}, {"type": "image"}]
    if with_depth:
        content += [{"type": "text", "text": "\nDepth image: "}, {"type": "image"}]
    content.append({"type": "text", "text": "\n" + user_text(question, choices)})
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages
