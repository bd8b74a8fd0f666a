"""Shipped pretrained bundles: made by their command, loaded only with their hash, scored by a
study on the one cell they were trained on, reproducing the metrics their index records."""

import hashlib
import json
import shutil

import numpy as np
import pytest
from study_reports import report_rows
from typer.testing import CliRunner

from ptycho_nl.cli import app
from ptycho_nl.errors import BundleError, ConfigError
from ptycho_nl.pretrained.index import PACKAGE_DIR, find_entry, load_index, load_pretrained
from ptycho_nl.pretrained.make import RECIPES, make_pretrained, one_cell_recipe, recipe_for
from ptycho_nl.study.design import DENSE, PRESETS, StudyDesign
from ptycho_nl.study.dose_overlap import run_study
from ptycho_nl.study.jobs import load_manifest
from ptycho_nl.study.phases import COMPARE, ITERATIVE, TRAIN
from ptycho_nl.study.plan import check_pretrained, plan_jobs

runner = CliRunner()
SHIPPED = "demo-pinn-d1e5-dense"


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_shipped_bundle_matches_its_index_and_is_small():
    index = load_index()
    assert SHIPPED in index.bundles and set(index.bundles) <= set(RECIPES)
    for entry in index.bundles.values():
        path = PACKAGE_DIR / entry.file
        assert _sha256(path) == entry.sha256 and path.stat().st_size == entry.size_bytes
        assert entry.size_bytes <= 20_000_000
        # The recipe in the code is the one the index says made the bundle.
        assert recipe_for(entry.name) == entry.recipe
        assert entry.command == f"ptycho-nl pretrained make {entry.name}"
        assert load_pretrained(entry.name).sha256 == entry.sha256


def test_a_bundle_that_does_not_match_its_index_is_refused(tmp_path):
    entry = find_entry(SHIPPED)
    shutil.copy(PACKAGE_DIR / "index.json", tmp_path / "index.json")
    data = bytearray((PACKAGE_DIR / entry.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / entry.file).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_pretrained(SHIPPED, tmp_path)
    result = runner.invoke(app, ["pretrained", "verify", "--dir", str(tmp_path), "--json"])
    envelope = json.loads(result.stdout)
    assert result.exit_code == 1 and envelope["ok"] is False
    assert "sha256 mismatch" in envelope["data"][SHIPPED]
    ok = runner.invoke(app, ["pretrained", "verify", SHIPPED, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["data"] == {SHIPPED: None}
    unknown = runner.invoke(app, ["pretrained", "verify", "nope"])
    assert unknown.exit_code == 2 and "no pretrained bundle 'nope'" in unknown.stderr


@pytest.mark.slow
def test_the_shipped_bundle_reproduces_its_recorded_metrics_in_a_study_with_its_hybrid(tmp_path):
    entry = find_entry(SHIPPED)
    design = StudyDesign.model_validate(
        {
            **entry.recipe.model_dump(),
            "name": "shipped",
            "models": [],
            "pretrained": [SHIPPED],
            "hybrid": ["epie"],
            "hybrid_iterations": 5,
        }
    )
    result = run_study(design, tmp_path)
    assert result.failed_jobs == 0
    (job,) = load_manifest(tmp_path, TRAIN.key).jobs.values()
    assert job.kind == "use_pretrained" and job.outputs["bundle"].sha256 == entry.sha256
    (g,) = load_manifest(tmp_path, COMPARE.key).jobs.values()
    scored = g.metrics["methods"][entry.method]
    for name, recorded in entry.metrics.model_dump().items():
        # Inference rounds differently on other CPUs; the metrics agree far inside the margins
        # the report compares methods by.
        assert scored[name] == pytest.approx(recorded, abs=2e-3), name
    assert scored["nrmse"] < g.metrics["methods"]["constant"]["nrmse"]
    (hybrid,) = load_manifest(tmp_path, ITERATIVE.key).jobs.values()
    assert hybrid.params["pretrained"] == SHIPPED and hybrid.params["train_seed"] is None
    assert f"{entry.method}+epie" in g.metrics["methods"]
    report = (tmp_path / "report.md").read_text()
    rows = {row[2]: row for row in report_rows(report)}
    assert float(rows[entry.method][5]) == pytest.approx(scored["nrmse"], abs=5e-4)
    assert rows[entry.method][-1] == job.job_id
    # Its traces' seconds are inference only, so the report says what training it had.
    trained = f"{entry.epochs_trained} epochs, {entry.training_seconds:.0f} s of training"
    assert f"`{SHIPPED}` (job `{job.job_id}`" in report and trained in report
    assert trained in (tmp_path / "report.html").read_text()
    # Outside a study, `reconstruct --pretrained` gives the same object from the same bundle.
    test = tmp_path / load_manifest(tmp_path, "C").jobs["C-d1e5-dense"].outputs["test"].path
    out = tmp_path / "recon"
    cli = ["reconstruct", "--pretrained", SHIPPED, "--data", str(test), "--out", str(out)]
    result = runner.invoke(app, [*cli, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "recon.json").read_text())["bundle_sha256"] == entry.sha256
    study_object = np.load(tmp_path / job.outputs["object"].path)
    assert np.array_equal(np.load(out / "object.npy"), study_object)
    for extra, message in (
        (["--bundle", str(tmp_path / job.outputs["bundle"].path)], "give exactly one of"),
        ([], "no pretrained bundle 'nope'"),
    ):
        args = [*cli[:2], "nope" if not extra else SHIPPED, *cli[3:], *extra]
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2 and message in bad.stderr, bad.output


def test_the_demo_scores_the_shipped_bundle_in_its_own_cell_only():
    demo = PRESETS["demo"]
    assert demo.pretrained == [SHIPPED]
    phases = plan_jobs(demo)
    shipped = [j for j in phases[TRAIN] if j.kind.name == "use_pretrained"]
    assert [j.job_id for j in shipped] == [f"E-d1e5-dense-pretrained-{SHIPPED}"]
    hybrids = [j.job_id for j in phases[ITERATIVE] if "pretrained" in j.job_id]
    assert hybrids == [f"F-d1e5-dense-hybrid-pretrained-{SHIPPED}-epie"]
    # The trained arms are planned as before the shipped one existed.
    without = demo.model_copy(update={"pretrained": []})
    assert "pretrained" not in without.model_dump()
    trained = {j.job_id: j.params for j in plan_jobs(without)[TRAIN]}
    assert trained == {j.job_id: j.params for j in phases[TRAIN] if j.kind.name != "use_pretrained"}


def test_a_design_naming_an_unknown_or_unfitting_bundle_is_a_usage_error(tmp_path):
    small = StudyDesign.model_validate(
        {**PRESETS["demo"].model_dump(), "object_size": 128, "pretrained": [SHIPPED]}
    )
    with pytest.raises(ConfigError, match="was trained on dose 100000, view dense"):
        check_pretrained(small)
    for pretrained, message in (
        (["nope"], "no pretrained bundle 'nope'"),
        ([SHIPPED], "was trained on dose 100000, view dense"),
    ):
        design = tmp_path / "design.json"
        design.write_text(small.model_copy(update={"pretrained": pretrained}).model_dump_json())
        out = tmp_path / "study"
        result = runner.invoke(app, ["study", "run", "--design", str(design), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not out.exists()


@pytest.mark.slow
def test_make_writes_the_bundle_and_an_index_entry_from_its_recipes_study(tmp_path):
    base = StudyDesign.model_validate({**PRESETS["demo"].model_dump(), "object_size": 96})
    recipe = one_cell_recipe(base, 1e5, DENSE, model="pinn", epochs=1)
    assert recipe.models == ["pinn"] and recipe.early_stop_patience == 0 and not recipe.hybrid
    work, into = tmp_path / "work", tmp_path / "pkg"
    entry = make_pretrained("tiny-pinn", recipe, work, directory=into)
    bundle = into / "tiny-pinn.zip"
    assert entry.file == bundle.name and entry.sha256 == _sha256(bundle)
    on_disk = json.loads((into / "index.json").read_text())["bundles"]["tiny-pinn"]
    assert on_disk["sha256"] == entry.sha256 and on_disk["epochs_trained"] == 1
    # Its metrics are the recipe's study's, and the bundle is that study's network.
    (g,) = load_manifest(work, COMPARE.key).jobs.values()
    assert entry.metrics.nrmse == g.metrics["methods"]["pinn"]["nrmse"]
    (train,) = load_manifest(work, TRAIN.key).jobs.values()
    assert train.outputs["bundle"].sha256 == entry.sha256
    run = json.loads((work / train.outputs["bundle"].path).with_name("manifest.json").read_text())
    assert entry.made_with["threads"] == str(run["environment"]["torch_threads"])
    assert load_pretrained("tiny-pinn", into).sha256 == entry.sha256
    listed = runner.invoke(app, ["pretrained", "list", "--dir", str(into), "--json"])
    assert json.loads(listed.stdout)["data"]["tiny-pinn"]["sha256"] == entry.sha256
