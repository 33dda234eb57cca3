"""Acceptance: every canonical solution passes through the Docker sandbox (default versions)."""

import pytest

from apr_eval.benchmarks.base import open_benchmark
from apr_eval.core import SandboxLimits
from apr_eval.harness.run.selfcheck import last_selfcheck, run_selfcheck

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]


@pytest.mark.parametrize("bench,version", [("humaneval", "v0.1.10"), ("mbpp", "v0.2.0")])
def test_ground_truth_passes_in_the_sandbox(bench, version, tmp_path):
    from apr_eval.sandbox.docker_executor import DockerExecutor

    benchmark = open_benchmark(bench, version)
    executor = DockerExecutor()
    check = run_selfcheck(benchmark, executor, SandboxLimits(workers=2), tmp_path)
    assert check.failures == ()
    assert check.total == len(benchmark.load()) == {"humaneval": 164, "mbpp": 378}[bench]
    assert check.valid
    again = last_selfcheck(benchmark, executor.image_digest, tmp_path)
    assert again is not None and again.passed == check.total
