"""The one prompt wording shared by SFT, GRPO, eval and inference (spec 1.6/4: RGB + depth, labelled).

The paper used two wordings (SFT said "bounding box with depth", RL/eval did not) and dropped the depth
image in RL; we use a single sentence and the same two-image layout everywhere (style `sif`, the default).
Style `paper` reproduces the original per phase (`experiment=paper_*` set it): SFT - our layout and sentence
(the original's SFT data); RL - ONE unlabelled RGB image and "{question} " + the RL sentence (no "with
depth"); inference/eval - the labelled two-image layout with the RL sentence.
"""

from __future__ import annotations

from typing import Sequence

INSTRUCTION = (
    "Please first output the thinking process in <think> </think> tags, where bounding box with depth is "
    "enclosed in <area> </area> tags and text analysis is enclosed in <text> </text> tags, alternating "
    "between them to iteratively refine the focused area. Then output the final answer in <answer> </answer> tags."
)

# The original's RL / inference sentence (GRPO-SIF qwen_module.py `get_question_template("GRPO-SIF")`).
PAPER_RL_INSTRUCTION = (
    "Please first output the thinking process in <think> </think> tags, where bounding box is enclosed in "
    "<area> </area> tags and text analysis is enclosed in <text> </text> tags, alternating between them to "
    "iteratively refine the focused area. Then output the final answer in <answer> </answer> tags."
)
PROMPT_STYLES = ("sif", "paper")
PHASES = ("sft", "rl", "infer")

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
                   answer: str | None = None, style: str = "sif", phase: str = "sft") -> list[dict]:
    """Chat messages in the processor's multimodal format; images are referenced by {"type": "image"}
    placeholders in order (RGB first, then depth). With `answer`, an assistant turn is appended (SFT).
    `style="paper"` gives the original's wording for `phase` (sft | rl | infer; see the module docstring)."""
    if style not in PROMPT_STYLES or phase not in PHASES:
        raise ValueError(f"prompt style {style!r} / phase {phase!r}: expected {list(PROMPT_STYLES)} / {list(PHASES)}")
    if style == "paper" and phase == "rl":
        if with_depth:
            raise ValueError("the paper's RL prompt shows the RGB image only: set stage.image_inputs=rgb")
        content: list[dict] = [{"type": "image"},
                               {"type": "text", "text": f"{format_question(question, choices)} {PAPER_RL_INSTRUCTION}"}]
    else:
        sentence = PAPER_RL_INSTRUCTION if (style == "paper" and phase == "infer") else INSTRUCTION
        content = [{"type": "text", "text": "Original image: "}, {"type": "image"}]
        if with_depth:
            content += [{"type": "text", "text": "\nDepth image: "}, {"type": "image"}]
        content.append({"type": "text", "text": "\n" + f"{format_question(question, choices)} {sentence}"})
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages
