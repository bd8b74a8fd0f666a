"""The study runs the data QC gate on every cell it generates: a cell whose data fail it fails
its generate job (so its jobs downstream fail as upstream), and training refuses a cell's file
without a passing record."""

import pytest

from ptycho_nl.data.qc import read_record
from ptycho_nl.errors import PtychoError
from ptycho_nl.study.job_kinds import GenerateParams, TrainParams, generate, train_network
from ptycho_nl.study.jobs import JobContext


def _generate(tmp_path, dose):
    params = GenerateParams(
        dose=dose, view="dense", overlap=0.7, object_kind="camera_moon", object_size=96,
        patch_size=32, seed=0,
    )  # fmt: skip
    out = tmp_path / "data" / "C-cell"
    ctx = JobContext(study_dir=tmp_path, job_id="C-cell", params=params, inputs={},
                     out_dir=out, threads=1)  # fmt: skip
    return generate(ctx), out


def test_a_generated_cell_carries_its_passing_qc_record(tmp_path):
    output, out = _generate(tmp_path, 1e4)
    assert output.outputs["qc"] == "data/C-cell/qc.json"
    record = read_record(out / "qc.json")
    assert record.passed and set(record.files) == {"train.npz", "test.npz"}


def test_a_cell_that_fails_qc_fails_its_generate_job(tmp_path):
    # 1e8 photons on a ~500-pixel pupil: ~2e5 counts in a pixel, beyond a 16-bit detector
    with pytest.raises(PtychoError, match="data QC failed .*saturated_patterns"):
        _generate(tmp_path, 1e8)
    assert not read_record(tmp_path / "data" / "C-cell" / "qc.json").passed


def test_training_refuses_a_cell_file_without_its_record(tmp_path):
    _, out = _generate(tmp_path, 1e4)
    (out / "qc.json").unlink()
    params = TrainParams(dose=1e4, view="dense", model="pinn", seed=0, epochs=1, batch_size=8,
                         learning_rate=1e-3, gridsize=1)  # fmt: skip
    ctx = JobContext(study_dir=tmp_path, job_id="E-cell", params=params,
                     inputs={"train": out / "train.npz", "test": out / "test.npz"},
                     out_dir=tmp_path / "runs" / "E-cell", threads=1)  # fmt: skip
    with pytest.raises(PtychoError, match="no QC record"):
        train_network(ctx)
