"""API keys travel only through environment variables named in config, and no file a run writes holds one.

A key is planted in three variables - the default OPENAI_API_KEY and two custom names given through
`teacher.api_key_env` / `judge.api_key_env` - and every stage that can hold one runs through launch.py
against the fake OpenAI server: generate (teacher=openai, response cache on), eval (backend=openai, cache
on), sft (logger=tensorboard, then logger=wandb offline) and grpo (reward=paper judge=openai, logger=wandb,
then logger=tensorboard). The server must have RECEIVED each key (so each was really loaded), and then
every byte under the run folders, the SIF cache, wandb's own folders, TMPDIR and the processes' stdout and
stderr is searched for each key (raw, base64 and URL-quoted): zero hits.
"""

from __future__ import annotations

import base64
import secrets
import urllib.parse
from pathlib import Path

import pytest

from tests.conftest import run_launch
from tests.faults._reliability import record
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.teacher import teacher_reply

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security_keys")]


def _forms(key: str) -> list[bytes]:
    raw = key.encode()
    return [raw, base64.b64encode(raw), urllib.parse.quote(key).encode(), base64.b64encode(b"Bearer " + raw)]


def grep_tree(roots: list[Path], needles: list[bytes]) -> tuple[int, list[str]]:
    """(files searched, 'path: form' for every hit) under `roots` (symlinks not followed)."""
    searched, hits = 0, []
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            searched += 1
            hits += [f"{path}: {n[:12]!r}..." for n in needles if n in data]
    return searched, hits


def judge_or_teacher(body: dict) -> str:
    system = body["messages"][0].get("content") if body.get("messages") else ""
    if isinstance(system, str) and "proofreader" in system:
        return '{"score": 0.5}'
    if isinstance(system, str) and "construct data" in system:
        return teacher_reply(body)
    return "<answer>A</answer>"


def test_planted_keys_reach_the_server_and_no_file_or_log(tmp_path, shared_cache):
    from sif.generate.dataset_cache import samples_path
    from sif.models.factory import resolve_model_path
    from tests.conftest import compose

    cfg = compose(["stage=sft", "model=tiny", "dataset=synth", f"paths.cache_dir={shared_cache}"])
    resolve_model_path(cfg.model, shared_cache)
    samples_path(cfg, "train")

    keys = {"OPENAI_API_KEY": f"sk-planted-openai-{secrets.token_hex(20)}",
            "SIF_PLANTED_TEACHER_KEY": f"sk-planted-teacher-{secrets.token_hex(20)}",
            "SIF_PLANTED_JUDGE_KEY": f"sk-planted-judge-{secrets.token_hex(20)}"}
    side = {name: tmp_path / name for name in ("wandb-cache", "wandb-config", "wandb-data", "tmp")}
    for p in side.values():
        p.mkdir()
    env = {**keys, "SIF_CACHE_DIR": str(shared_cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "WANDB_MODE": "offline", "WANDB_CACHE_DIR": str(side["wandb-cache"]),
           "WANDB_CONFIG_DIR": str(side["wandb-config"]), "WANDB_DATA_DIR": str(side["wandb-data"]),
           "TMPDIR": str(side["tmp"])}
    outputs: list[str] = []
    with FakeOpenAIServer(judge_or_teacher) as server:
        url = server.base_url
        judge = ["reward=paper", "reward.paper_compat=true", "judge=openai", f"judge.base_url={url}",
                 "judge.model=fake-judge", "judge.api_key_env=SIF_PLANTED_JUDGE_KEY", "judge.cache=true"]
        grpo = ["stage=grpo", "model=tiny", "dataset=synth", "stage.max_steps=2", "stage.save_steps=1",
                "stage.max_completion_length=8", "model.max_pixels=12544"]
        sft = ["stage=sft", "model=tiny", "dataset=synth", "stage.max_steps=2", "stage.save_steps=1",
               "stage.eval_fraction=0"]
        runs = {
            "generate": ["stage=generate", "dataset.num_samples=4", "teacher=openai", f"teacher.base_url={url}",
                         "teacher.model=fake-teacher", "teacher.api_key_env=SIF_PLANTED_TEACHER_KEY",
                         "teacher.cache=true"],
            "eval": ["stage=eval", "dataset.eval_samples=4", "backend=openai", f"backend.base_url={url}",
                     "backend.model=fake-eval", "backend.cache=true"],
            "sft-tensorboard": sft + ["logger=tensorboard"],
            "sft-wandb": sft + ["logger=wandb"],
            "grpo-wandb": grpo + judge + ["logger=wandb"],
            "grpo-tensorboard": grpo + judge + ["logger=tensorboard"],
        }
        for name, args in runs.items():
            (tmp_path / name).mkdir()
            proc = run_launch(args, cwd=tmp_path / name, env=env)
            outputs += [proc.stdout, proc.stderr]
        auth = [h.get("authorization", "") for h in server.headers_seen]
    for name, key in keys.items():  # each key was loaded from its variable and sent to the server
        assert f"Bearer {key}" in auth, f"{name} was never sent: the test would prove nothing"

    logger_dirs = [next((tmp_path / "sft-tensorboard" / "outputs").glob("sft-*")) / "tensorboard",
                   next((tmp_path / "grpo-wandb" / "outputs").glob("grpo-*")) / "wandb"]
    for folder in logger_dirs:
        assert folder.is_dir() and any(p.is_file() for p in folder.rglob("*")), f"{folder}: the logger wrote nothing"
    assert any((shared_cache / "llm").rglob("*.json")), "the response cache was not written"

    needles = [form for key in keys.values() for form in _forms(key)]
    roots = [tmp_path / name for name in runs] + [shared_cache] + list(side.values())
    searched, hits = grep_tree(roots, needles)
    text_hits = [i for i, out in enumerate(outputs) if any(n.decode() in out for n in needles)]
    record("security", check="planted API keys in files, caches, logger output and process output",
           hits=len(hits) + len(text_hits), files=searched)
    print(f"searched {searched} files for {len(keys)} planted keys x {len(needles) // len(keys)} encodings")
    assert searched > 100
    assert not hits, hits[:10]
    assert not text_hits, "a key appeared on stdout/stderr"


def test_config_snapshot_masks_secret_looking_values_and_key_values(tmp_path, monkeypatch):
    """The run folder's config.yaml / command.txt / run_info.json mask a key that reached the config anyway
    (a secret-looking key name, or the value of a variable that an `*_env` entry names)."""
    from omegaconf import OmegaConf

    from sif.runinfo import mask_secrets, secret_env_values, write_run_snapshot

    planted = f"sk-planted-{secrets.token_hex(12)}"
    monkeypatch.setenv("SIF_PLANTED_SNAPSHOT_KEY", planted)
    cfg = OmegaConf.create({"seed": 1, "teacher": {"api_key_env": "SIF_PLANTED_SNAPSHOT_KEY", "note": f"x{planted}y"},
                            "other": {"api_key": "literal-secret", "token": "t0k3n-value"}})
    assert secret_env_values(cfg) == (planted,)
    monkeypatch.setattr("sys.argv", ["launch.py", f"+teacher.note=x{planted}y"])
    write_run_snapshot(tmp_path, cfg, [f"+teacher.note=x{planted}y"])
    searched, hits = grep_tree([tmp_path], [planted.encode(), b"literal-secret", b"t0k3n-value"])
    record("security", check="config snapshot masking", hits=len(hits), files=searched)
    assert searched == 3 and not hits, hits
    assert mask_secrets({"api_key_env": "OPENAI_API_KEY"}) == {"api_key_env": "OPENAI_API_KEY"}  # a NAME stays
