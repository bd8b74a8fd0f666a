"""`ptycho-nl report baseline`: the sections, the evidence in them, and the decision per case."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.gates.baseline import write_baseline_report
from ptycho_nl.gates.definitions import load_definition
from ptycho_nl.gates.post_training import CHECKS
from ptycho_nl.gates.post_training_files import REPORT_SECTIONS

PNG = b"\x89PNG\r\n\x1a\n"


def _report(run, gate_file=None):
    definition = load_definition(gate_file, CHECKS) if gate_file else None
    return write_baseline_report(run, definition)


def test_the_report_has_its_sections_in_order_with_the_run_evidence(good_run, copy_run):
    run = copy_run(good_run)
    context = _report(run)
    text = (run / "baseline_results.md").read_text()
    heads = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert tuple(heads) == REPORT_SECTIONS
    config = json.loads((run / "config.json").read_text())
    assert f"`{config['config_digest']}`" in text
    for path in sorted((run / "checkpoints").glob("*.pt")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"| `checkpoints/{path.name}` | {path.stat().st_size} | `{digest}` |" in text
    metrics = json.loads((run / "logs/metrics.json").read_text())
    for epoch in metrics["epochs"]:
        assert f"| {epoch['num']} | {epoch['duration_s']} |" in text
    assert "GPU statistics absent: telemetry.log_gpu_stats was off" in text
    png = (run / "learning_curves.png").read_bytes()
    assert png.startswith(PNG)
    html = (run / "baseline_results.html").read_text()
    embedded = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(embedded) == png
    assert context["final"]["epochs_recorded"] == len(metrics["epochs"])


def test_a_good_run_is_deployed_by_the_rule_that_says_so(good_run, copy_run, lenient_gate):
    run = copy_run(good_run)
    context = _report(run, lenient_gate)
    metrics = json.loads((run / "logs/metrics.json").read_text())
    vals = [e["val_loss"] for e in metrics["epochs"]]
    assert context["final"]["val_improvement"] == pytest.approx((vals[0] - min(vals)) / vals[0])
    assert context["decision"] == "deploy", context["rule"]
    assert "**Decision: deploy**" in (run / "baseline_results.md").read_text()


@pytest.mark.parametrize(
    ("fixture", "named"),
    [
        ("nan_run", "losses_finite"),
        ("stopped_run", "final_epoch_reached"),
        ("flat_run", "loss_convergence"),
    ],
)
def test_broken_runs_are_to_be_fixed_naming_the_items(
    request, copy_run, lenient_gate, fixture, named
):
    run = copy_run(request.getfixturevalue(fixture))
    context = _report(run, lenient_gate)
    assert context["decision"] == "fix" and named in context["rule"]
    assert context["rule"].startswith("mandatory gate item(s) not passing")


def test_a_deleted_best_checkpoint_is_to_be_fixed(good_run, copy_run, lenient_gate):
    run = copy_run(good_run)
    (run / "checkpoints/best_model.pt").unlink()
    context = _report(run, lenient_gate)
    assert (context["decision"], context["rule"]) == (
        "fix",
        "mandatory gate item(s) not passing: best_checkpoint",
    )


def test_an_optional_item_failing_means_optimise(good_run, copy_run, lenient_gate, tmp_path):
    strict = tmp_path / "strict.toml"
    text = lenient_gate.read_text()
    strict.write_text(
        text.replace("min_relative_range = 1e-3", "mandatory = false\nmin_relative_range = 1e9")
    )
    context = _report(copy_run(good_run), strict)
    assert context["decision"] == "optimise"
    assert context["rule"] == "optional gate item(s) failing: loss_not_flat"


def test_the_command_writes_the_report_and_fails_on_no_run(good_run, copy_run, tmp_path):
    run = copy_run(good_run)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "baseline", str(run), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert data["decision"] in ("deploy", "optimise", "fix")
    assert (run / "baseline_results.md").is_file()
    missing = runner.invoke(app, ["report", "baseline", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert missing.stderr == f"error: {tmp_path / 'nope'}: run directory not found\n"
