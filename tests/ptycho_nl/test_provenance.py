"""Provenance: the environment record and the git commit of a checkout."""

import platform
import subprocess

import torch

from ptycho_nl.provenance import environment, git_sha


def test_environment_records_versions_and_a_boolean_cuda():
    env = environment()
    assert env["torch"] == torch.__version__
    assert env["python"] == platform.python_version()
    assert env["cuda"] is torch.cuda.is_available()
    assert ("cuda_device" in env) is env["cuda"]


def test_environment_records_the_determinism_switches_as_they_stand():
    before = torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        assert environment()["deterministic_algorithms"] is True
        torch.use_deterministic_algorithms(False)
        assert environment()["deterministic_algorithms"] is False
    finally:
        torch.use_deterministic_algorithms(before, warn_only=True)
    env = environment()
    assert env["cudnn_benchmark"] is bool(torch.backends.cudnn.benchmark)
    assert env["cudnn_deterministic"] is bool(torch.backends.cudnn.deterministic)


def test_git_sha_is_the_checkout_head_and_none_outside_one(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (repo / "f").write_text("x")
    run("add", "f")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert git_sha(repo) == head.stdout.strip()
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_sha(outside) is None
