"""The offline teacher: deterministic chain text from the scene facts (the default)."""

from __future__ import annotations

from sif.chain import Chain, Step, render_chain
from sif.data.records import Rejection
from sif.generate.plan import ChainRequest, PlannedStep
from sif.registry import TEACHERS


def _describe_targets(facts: dict) -> str:
    names = facts.get("target_names") or []
    if not names:
        return "the region the question is about"
    if len(names) == 1:
        return f"the {names[0]}"
    return "the " + ", the ".join(names[:-1]) + f" and the {names[-1]}"


def _conclusion(req: ChainRequest) -> str:
    facts = req.facts
    qtype = facts.get("qtype")
    objs = facts.get("targets") or []
    if qtype == "relative_depth" and len(objs) == 2:
        a, b = objs
        return (f"The {a['name']} is at depth {a['depth']:.3f} and the {b['name']} at depth {b['depth']:.3f}, "
                f"so the answer is {req.answer_text}.")
    if qtype == "left_right" and len(objs) == 2:
        a, b = objs
        ax, bx = (a["box"][0] + a["box"][2]) / 2, (b["box"][0] + b["box"][2]) / 2
        return (f"The {a['name']} is centred at x={ax:.3f} and the {b['name']} at x={bx:.3f}, "
                f"so the answer is {req.answer_text}.")
    if qtype == "counting":
        return f"I count {len(objs)} matching objects here, so the answer is {req.answer_text}."
    if qtype == "attribute" and objs:
        o = objs[0]
        return f"This is the {o['name']} at depth {o['depth']:.3f}, so the answer is {req.answer_text}."
    return f"This region answers the question: {req.answer_text}."


def _step_text(req: ChainRequest, step: PlannedStep, index: int) -> str:
    depth = sum(f.depth for f in step.areas) / max(1, len(step.areas))
    targets = _describe_targets(req.facts)
    if step.role == "full":
        n = req.facts.get("num_objects")
        seen = f"{n} objects on a ground plane" if n else "the whole scene"
        return f"The image shows {seen}, mean depth {depth:.3f}. I look for {targets}."
    if step.role == "distractor":
        return f"This region at depth {depth:.3f} does not contain {targets}; I move my focus elsewhere."
    if step.role == "union":
        return f"The relevant objects lie within this region (depth {depth:.3f}); I examine them one by one."
    if step.role == "expanded":
        return f"{targets[0].upper() + targets[1:]} should be around here (depth {depth:.3f}); I narrow down."
    return _conclusion(req)


@TEACHERS.register("template")
class TemplateTeacher:
    """Writes text from facts; boxes and depths come verbatim from the plan, so chains always validate."""

    def __init__(self, cfg=None, cache_dir=None) -> None:
        self.cfg = cfg
        self.stats: dict = {}

    def write(self, requests: list[ChainRequest]) -> list[str | Rejection]:
        out: list[str | Rejection] = []
        for req in requests:
            steps = [Step(areas=list(s.areas), text=_step_text(req, s, i)) for i, s in enumerate(req.steps)]
            out.append(render_chain(Chain(steps=steps, answer=req.answer)))
        return out
