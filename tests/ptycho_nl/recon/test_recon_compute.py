"""A reconstruction job's record carries its compute: the job's wall time holds the solver's."""

import json

from ptycho_nl.recon.jobs import reconstruct_iterative_to_dir
from ptycho_nl.recon.options import IterativeOptions
from ptycho_nl.recon.result import load_recon


def test_iterative_job_records_its_compute(tiny_npz, tmp_path, one_torch_thread):
    options = IterativeOptions(method="epie", iterations=2, seed=0)
    record = reconstruct_iterative_to_dir(tiny_npz, tmp_path / "r", options=options)
    on_disk = json.loads((tmp_path / "r" / "recon.json").read_text())
    assert on_disk["compute"] == record.compute.model_dump(mode="json")
    assert record.compute.device == "cpu" and record.compute.gpu_s is None
    assert record.compute.wall_s >= record.total_seconds  # the job includes loading and writing
    assert record.compute.cpu_s > 0
    assert load_recon(tmp_path / "r")[0].compute == record.compute
