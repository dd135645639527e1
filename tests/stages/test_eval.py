"""stage=eval end to end on the tiny model and the held-out synthetic split: outputs, the openai backend
replaying the hf predictions gives identical results, resume after a crash, and stage=compare on both runs."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from sif.llm.images import image_to_data_url
from sif.prompt import build_messages, user_text
from tests.conftest import compose, run_launch
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("eval_e2e")]

N = 8
COMMON = ["stage=eval", f"dataset.eval_samples={N}", "stage.max_samples_in_html=6"]
HF = COMMON + ["backend=hf", "backend.max_new_tokens=16", "backend.batch_size=4"]


def openai_args(server: FakeOpenAIServer) -> list[str]:
    return COMMON + ["backend=openai", f"backend.base_url={server.base_url}", "backend.model=replay",
                     "backend.max_retries=0", "backend.cache=false", "backend.max_new_tokens=16"]


def run_dir(cwd: Path) -> Path:
    dirs = [p for p in (cwd / "outputs").iterdir() if p.name.startswith("eval-")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def request_key(body: dict) -> tuple[str, str]:
    """(question text with options and instruction, RGB data URL) of an OpenAI request."""
    parts = body["messages"][0]["content"]
    text = [p["text"] for p in parts if p["type"] == "text"][-1].lstrip("\n")
    return text, [p["image_url"]["url"] for p in parts if p["type"] == "image_url"][0]


@pytest.fixture(scope="module")
def items(shared_cache):
    from sif.eval.runner import benchmark_for

    cfg = compose(COMMON + [f"paths.cache_dir={shared_cache}"])
    return benchmark_for(cfg, shared_cache).load()


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory, shared_cache) -> tuple[Path, str]:
    cwd = tmp_path_factory.mktemp("hf")
    started = time.time()
    proc = run_launch(HF, cwd=cwd, env={"SIF_CACHE_DIR": str(shared_cache)})
    print(f"stage=eval backend=hf, {N} items: {time.time() - started:.1f} s")
    return run_dir(cwd), proc.stdout


@pytest.fixture(scope="module")
def replay(hf_run, items):
    """A responder answering every request with the hf completion of the same item."""
    by_id = {r["id"]: r["completion"] for r in lines(hf_run[0] / "predictions.jsonl")}
    table = {(user_text(it.question, it.choices), image_to_data_url(it.image)): by_id[it.id] for it in items}
    return lambda body: table[request_key(body)]


@pytest.fixture(scope="module")
def openai_run(tmp_path_factory, shared_cache, replay) -> tuple[Path, FakeOpenAIServer]:
    cwd = tmp_path_factory.mktemp("openai")
    with FakeOpenAIServer(replay) as server:
        run_launch(openai_args(server), cwd=cwd, env={"SIF_CACHE_DIR": str(shared_cache)})
    return run_dir(cwd), server


def test_eval_writes_results_table_and_report(hf_run):
    run, stdout = hf_run
    results = json.loads((run / "results.json").read_text())
    agg = results["aggregate"]
    assert agg["n"] == N and len(results["items"]) == N
    assert results["backend"]["name"] == "hf" and results["backend"]["do_sample"] is False
    assert results["model"]["name"] == "tiny" and results["model"]["resolved_path"]
    assert {"overall", "per_category", "format_rate", "answer_missing", "acc_at_iou", "mean_iou",
            "depth_consistency"} <= set(agg)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["objective"] == agg["overall"] and summary["aggregate"] == agg
    md = (run / "results.md").read_text()
    assert "| overall accuracy |" in md and "| depth consistency |" in md
    assert md.strip() in stdout and f"HTML report: {run / 'report.html'}" in stdout  # the run ends with them
    page = (run / "report.html").read_text()
    assert len(re.findall(r"<img\b", page)) == 6  # stage.max_samples_in_html
    assert len(list((run / "report_assets").iterdir())) == 6
    assert len(lines(run / "predictions.jsonl")) == N


def test_openai_backend_replaying_hf_gives_identical_results(hf_run, openai_run, items):
    hf = json.loads((hf_run[0] / "results.json").read_text())
    run, server = openai_run
    oa = json.loads((run / "results.json").read_text())
    assert oa["aggregate"] == hf["aggregate"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "error"} for r in rows]  # noqa: E731
    assert strip(oa["items"]) == strip(hf["items"])
    assert len(server.requests) == N and oa["backend"]["name"] == "openai"
    by_key = {(user_text(it.question, it.choices), image_to_data_url(it.image)): it for it in items}
    for body in server.requests:  # the same prompt: the text parts of build_messages, RGB then depth
        it = by_key[request_key(body)]
        want = [p["text"] for p in build_messages(it.question, it.choices)[0]["content"] if p["type"] == "text"]
        parts = body["messages"][0]["content"]
        assert [p["text"] for p in parts if p["type"] == "text"] == want
        urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert urls == [image_to_data_url(it.image), image_to_data_url(Path(it.depth).with_suffix(".png"))]
        assert body["temperature"] == 0.0 and body["max_tokens"] == 16


def test_resume_never_regenerates_finished_items(tmp_path, shared_cache, replay):
    env = {"SIF_CACHE_DIR": str(shared_cache)}
    with FakeOpenAIServer(replay) as server:
        run_launch(openai_args(server), cwd=tmp_path, env=env)
        assert len(server.requests) == N
        run = run_dir(tmp_path)
        before = json.loads((run / "results.json").read_text())
        preds = (run / "predictions.jsonl").read_text().splitlines(keepends=True)
        kept = [json.loads(x)["id"] for x in preds[:3]]
        # a crash after 3 items, in the middle of writing the 4th line
        (run / "predictions.jsonl").write_text("".join(preds[:3]) + preds[3][:25])
        for name in ("results.json", "DONE"):
            (run / name).unlink()
        proc = run_launch(openai_args(server), cwd=tmp_path, env=env)
        assert len(server.requests) == N + (N - 3)  # only the unfinished items were asked again
        asked = {request_key(b) for b in server.requests[N:]}
        assert len(asked) == N - 3
    after = json.loads((run / "results.json").read_text())
    assert after["aggregate"] == before["aggregate"] and after["items"] == before["items"]
    assert after["generation"]["resumed"] == 3 and after["generation"]["generated"] == N - 3
    ids = [r["id"] for r in lines(run / "predictions.jsonl")]
    assert len(ids) == N == len(set(ids)) and ids[:3] == kept
    assert "| overall accuracy |" in proc.stdout


def test_compare_two_eval_runs(tmp_path, hf_run, openai_run):
    proc = run_launch(["stage=compare", f"stage.runs=[{hf_run[0]},{openai_run[0].parent}/eval-*]"], cwd=tmp_path)
    out = [p for p in (tmp_path / "outputs").iterdir() if p.name.startswith("compare-")][0]
    csv_rows = (out / "compare.csv").read_text().splitlines()
    assert len(csv_rows) == 3 and csv_rows[0].startswith("run,benchmark,backend,model,n,overall")
    assert (out / "compare.png").stat().st_size > 5000 and (out / "compare.md").read_text() in proc.stdout
