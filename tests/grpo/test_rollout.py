"""Rollout backends: hf maps to TRL's generate, vLLM backends are lazy and fail with the install command,
a reserved (planned) backend fails clearly instead of silently running another one."""

from __future__ import annotations

import sys
import types

import pytest

from sif.config.training import RolloutConfig
from sif.grpo.rollout import RolloutUnavailable, rollout_plan


def test_hf_is_trl_generate():
    plan = rollout_plan(RolloutConfig(name="hf"))
    assert plan.name == "hf" and plan.args == {"use_vllm": False} and plan.trainer_kwargs == {}


@pytest.mark.parametrize("name", ["vllm_colocate", "vllm_server"])
def test_vllm_missing_names_package_and_install(monkeypatch, name):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError
    with pytest.raises(RolloutUnavailable) as err:
        rollout_plan(RolloutConfig(name=name))
    message = str(err.value)
    assert f"rollout={name}" in message and "'vllm'" in message and "pip install 'sif[vllm]'" in message
    assert "rollout=hf" in message


def test_vllm_colocate_args(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    plan = rollout_plan(RolloutConfig(name="vllm_colocate", vllm_gpu_memory_utilization=0.45,
                                      vllm_tensor_parallel_size=2, vllm_enable_sleep_mode=True))
    assert plan.args == {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.45,
                         "vllm_tensor_parallel_size": 2, "vllm_enable_sleep_mode": True}


def test_vllm_server_args(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))
    plan = rollout_plan(RolloutConfig(name="vllm_server", vllm_server_host="10.0.0.2", vllm_server_port=8123,
                                      server_timeout_s=90.0))
    assert plan.args["use_vllm"] is True and plan.args["vllm_mode"] == "server"
    assert (plan.args["vllm_server_host"], plan.args["vllm_server_port"]) == ("10.0.0.2", 8123)
    assert plan.args["vllm_server_timeout"] == 90.0


def test_reserved_name_is_a_named_hook_not_a_silent_fallback(monkeypatch):
    """A backend that is planned but not implemented fails naming its hook (hf_fast was one until sif.fastgen)."""
    from sif.grpo import rollout

    monkeypatch.setitem(rollout.RESERVED, "sglang", "an SGLang server")
    with pytest.raises(RolloutUnavailable, match=r"rollout=sglang .*ROLLOUT_BACKENDS\['sglang'\]"):
        rollout_plan({"name": "sglang"})


def test_unknown_rollout_lists_known():
    with pytest.raises(RolloutUnavailable, match="known: hf, hf_fast, vllm_colocate, vllm_server"):
        rollout_plan({"name": "nonesuch"})


def test_rollout_group_files_compose():
    from tests.conftest import compose

    for name in ("hf", "hf_fast", "vllm_colocate", "vllm_server"):
        assert compose(["stage=grpo", f"rollout={name}"]).rollout.name == name
