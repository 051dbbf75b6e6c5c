"""The code sandbox: no network, killed on time, memory capped."""

from __future__ import annotations

import pytest

from mingyue.enablers.modeleval.engine.sandbox import (
    SandboxLimits,
    isolation_available,
    run_python,
)

pytestmark = pytest.mark.skipif(
    not isolation_available(), reason="neither bwrap nor unshare -rn works on this machine"
)


def test_correct_code_passes() -> None:
    result = run_python("def f(x):\n    return x + 1\nassert f(1) == 2\n")
    assert result.passed and result.reason == "passed"


def test_failing_assertion_fails() -> None:
    result = run_python("assert 1 == 2\n")
    assert not result.passed and result.reason == "failed"
    assert "AssertionError" in result.stderr_tail


def test_network_is_refused() -> None:
    program = "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('1.1.1.1', 53))\n"
    result = run_python(program)
    assert not result.passed
    assert "OSError" in result.stderr_tail or "unreachable" in result.stderr_tail.lower()


def test_endless_loop_is_killed() -> None:
    result = run_python("while True:\n    pass\n", SandboxLimits(wall_s=2.0, cpu_s=1))
    assert not result.passed and result.reason == "timeout"


def test_sleeping_code_is_killed_on_wall_time() -> None:
    result = run_python("import time\ntime.sleep(30)\n", SandboxLimits(wall_s=1.0))
    assert not result.passed and result.reason == "timeout"


def test_memory_is_capped() -> None:
    result = run_python("x = bytearray(2 * 1024**3)\n", SandboxLimits(memory_mb=256))
    assert not result.passed and result.reason == "memory"
