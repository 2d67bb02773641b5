"""malloc keeps freed memory for CPU inference (model/cpu_memory.py); each case in its process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nova3r_ros.model.cpu_memory import ENV_SWITCH, glibc

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(glibc() is None, reason="needs Linux with glibc")

# A step of large temporaries, as a decoder step on the CPU has them: a 48 MB tensor (above
# glibc's largest mmap threshold, 32 MB) and a 12 MB one, filled and freed. Ten steps to
# settle the heap (tuned, the first few freed blocks are too small for the next aligned
# request until neighbours merge), then the minor page faults of ten more.
ALLOCATIONS = """
import json, resource, sys
import torch
from nova3r_ros.model.cpu_memory import is_kept, keep_freed_memory
tuned = keep_freed_memory() if sys.argv[1] == "tune" else False
def step():
    big = torch.empty(12_000_000).fill_(1.0)
    small = torch.empty(3_000_000).fill_(2.0)
    del big, small
for _ in range(10):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"tuned": tuned, "kept": is_kept(), "faults": faults}))
"""


def run_python(code: str, *args: str, env_extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != ENV_SWITCH}
    env.update({"PYTHONPATH": str(ROOT), **(env_extra or {})})
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_large_temporaries_reuse_pages_once_tuned():
    default = run_python(ALLOCATIONS, "default")
    tuned = run_python(ALLOCATIONS, "tune")
    assert not default["kept"] and tuned["tuned"] and tuned["kept"]
    # glibc's defaults map each 48 MB tensor afresh: about 11,700 faults a step
    assert default["faults"] > 10 * 48e6 / 4096 / 2
    # tuned, the freed pages stay mapped and the next step reuses them
    assert tuned["faults"] < default["faults"] / 10


def test_the_environment_switch_turns_it_off():
    off = run_python(ALLOCATIONS, "tune", env_extra={ENV_SWITCH: "0"})
    assert off["tuned"] is False and off["kept"] is False
    assert off["faults"] > 10 * 48e6 / 4096 / 2


def test_loading_a_model_for_the_cpu_tunes_the_process():
    code = """
import json
from nova3r_ros.model.cpu_memory import is_kept
from nova3r_ros.pipeline import ModelBackendConfig, load_model
before = is_kept()
load_model(ModelBackendConfig(device="cpu"))
print(json.dumps({"before": before, "after": is_kept()}))
"""
    state = run_python(code)
    assert state == {"before": False, "after": True}
