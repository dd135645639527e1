"""The eval loop in process with a scripted backend: crash + resume, retried errors, limit, strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sif.chain import Chain, Focus, Step, render_chain
from sif.config.evaluation import BackendConfig
from sif.config.model import ModelConfig
from sif.eval.backends.base import Backend, GenRequest
from sif.eval.runner import evaluate
from tests.conftest import compose

N = 6


class Scripted(Backend):
    """Answers item i with a valid chain whose answer is right for even i; can crash or fail on cue."""

    name = "scripted"

    def __init__(self, answers: dict[str, str], crash_after: int | None = None, fail: set[str] = frozenset()):
        super().__init__(BackendConfig(name="scripted", batch_size=2), ModelConfig(), ".")
        self.answers, self.crash_after, self.fail, self.asked = answers, crash_after, set(fail), []

    def _generate(self, requests: list[GenRequest]) -> list[str]:
        if self.crash_after is not None and self.calls > self.crash_after:
            raise KeyboardInterrupt("killed")
        out = []
        for r in requests:
            self.asked.append(r.id)
            assert r.with_depth and Path(r.images[1]).suffix == ".png"
            if r.id in self.fail:
                self.errors[r.id] = "http_500: injected"
                out.append("")
                continue
            step = Step([Focus((0.0, 0.0, 1.0, 1.0), 0.5)], "look")
            out.append(render_chain(Chain([step], self.answers[r.id])))
        return out


@pytest.fixture(scope="module")
def cfg(shared_cache):
    return compose(["stage=eval", f"dataset.eval_samples={N}", f"paths.cache_dir={shared_cache}", "stage.html=false"])


@pytest.fixture(scope="module")
def answers(cfg, shared_cache) -> dict[str, str]:
    from sif.eval.runner import benchmark_for

    items = benchmark_for(cfg, shared_cache).load()
    return {it.id: (it.answer if i % 2 == 0 else "zzz") for i, it in enumerate(items)}


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def test_crash_then_resume_generates_only_the_rest(cfg, answers, tmp_path):
    clean = evaluate(cfg, tmp_path / "clean", backend=Scripted(answers), progress=False)
    assert clean["aggregate"]["overall"] == pytest.approx(0.5) and clean["n"] == N
    crashing = Scripted(answers, crash_after=2)  # two batches of 2 are written, then the process dies
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg, tmp_path / "run", backend=crashing, progress=False)
    done = [json.loads(x)["id"] for x in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert len(done) == 4
    again = Scripted(answers)
    summary = evaluate(cfg, tmp_path / "run", backend=again, progress=False)
    assert again.asked == [i for i in answers if i not in done] and again.calls == 1
    assert summary["resumed"] == 4 and summary["generated"] == 2
    assert _results(tmp_path / "run")["aggregate"] == _results(tmp_path / "clean")["aggregate"]
    assert _results(tmp_path / "run")["items"] == _results(tmp_path / "clean")["items"]
    finished = Scripted(answers)
    evaluate(cfg, tmp_path / "run", backend=finished, progress=False)
    assert finished.calls == 0  # nothing left: not even a call


def test_failed_requests_are_scored_missing_and_retried_next_run(cfg, answers, tmp_path):
    bad = next(iter(answers))
    summary = evaluate(cfg, tmp_path, backend=Scripted(answers, fail={bad}), progress=False)
    assert summary["generation_errors"] == 1 and summary["aggregate"]["answer_missing"] == 1
    res = _results(tmp_path)
    assert [r.get("error") for r in res["items"] if r["id"] == bad] == ["http_500: injected"]
    retry = Scripted(answers)
    summary = evaluate(cfg, tmp_path, backend=retry, progress=False)
    assert retry.asked == [bad] and summary["generation_errors"] == 0 and summary["aggregate"]["overall"] == 0.5


def test_limit_and_strict(cfg, answers, tmp_path, shared_cache):
    limited = compose(["stage=eval", f"dataset.eval_samples={N}", f"paths.cache_dir={shared_cache}",
                       "stage.limit=3", "strict=true"])
    backend = Scripted(answers, fail={list(answers)[1]})
    with pytest.raises(RuntimeError, match="failed to generate"):
        evaluate(limited, tmp_path, backend=backend, progress=False)
    assert backend.asked == list(answers)[:3]
    assert (tmp_path / "results.json").is_file() and (tmp_path / "report.html").is_file()


class ReadsPictures(Scripted):
    """Opens every picture the way the local backends do (sif.eval.backends.base.load_image) first."""

    def _generate(self, requests: list[GenRequest]) -> list[str]:
        from sif.eval.backends.base import load_image

        for r in requests:
            for image in r.images:
                load_image(image)
        return super()._generate(requests)


def test_an_unreadable_picture_fails_its_item_not_the_run(cfg, answers, tmp_path, shared_cache):
    import shutil

    from sif.eval.runner import benchmark_for

    # a private copy of the held-out split whose second image is cut in half (a broken download)
    items = benchmark_for(cfg, shared_cache).load()
    split = Path(items[0].image).parent.parent
    copy = tmp_path / "split"
    shutil.copytree(split, copy)
    local = compose(["stage=eval", f"dataset.eval_samples={N}", f"paths.cache_dir={shared_cache}",
                     "stage.html=false", f"benchmark.path={copy / 'samples.jsonl'}"])
    victim = benchmark_for(local, shared_cache).load()[1]
    data = Path(victim.image).read_bytes()
    Path(victim.image).write_bytes(data[: len(data) // 2])

    backend = ReadsPictures(answers)
    summary = evaluate(local, tmp_path / "run", backend=backend, progress=False)
    res = _results(tmp_path / "run")
    errors = {r["id"]: r.get("error") for r in res["items"]}
    assert errors[victim.id].startswith("image_unreadable:") and str(Path(victim.image).name) in errors[victim.id]
    assert sum(1 for e in errors.values() if e) == 1 and summary["generation_errors"] == 1
    assert summary["generated"] == N and summary["aggregate"]["answer_missing"] == 1
    # the chunk holding the broken picture was re-asked item by item; every other item was answered once
    assert sorted(backend.asked) == sorted(i for i in answers if i != victim.id)

    Path(victim.image).write_bytes(data)  # repaired: the next run asks for that item only
    retry = ReadsPictures(answers)
    summary = evaluate(local, tmp_path / "run", backend=retry, progress=False)
    assert retry.asked == [victim.id] and summary["generation_errors"] == 0
