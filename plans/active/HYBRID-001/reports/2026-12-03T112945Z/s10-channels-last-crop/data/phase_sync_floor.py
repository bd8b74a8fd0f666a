import os, sys, time, statistics
sys.path.insert(0, "/work/main/benchmarks")
import torch, numpy as np
torch.set_num_threads(2)
from r1 import r1_data
from ptycho_nl.models.registry import build_model
from ptycho_nl.train.bundle import Bundle
from ptycho_nl.recon.network import reconstruct_from_bundle
from ptycho_nl.recon import phase_sync as ps
from ptycho_nl.recon.stitch import _exact_scan
from ptycho_nl.operators import adjoint_shift
from pathlib import Path
data = r1_data(1e4)
torch.manual_seed(0)
m = build_model("supervised", n=64, channels=[16,32,64], global_features=256).eval()
b = Bundle(model=m, meta={"patch_size": 64, "model_name": "supervised"}, path=Path("x"), sha256="")
res = reconstruct_from_bundle(b, data, phase_sync=False)
positions = torch.as_tensor(data.positions, dtype=torch.float64)
weights = torch.as_tensor(np.asarray(data.probe)).abs().square().to(torch.float32)
truth = torch.from_numpy(data.patches).to(torch.complex64) if data.patches is not None else None
rng = np.random.default_rng(0)
cases = {"untrained net": res.patches}
if truth is not None:
    noisy = truth * torch.exp(1j*torch.from_numpy(rng.uniform(0,6,len(truth))))[:,None,None].to(torch.complex64)
    noisy = noisy + 0.3*torch.randn_like(noisy)
    cases["truth+phases+noise"] = noisy
scan = _exact_scan(positions, 64, data.object_shape); idx = torch.arange(len(scan))
for name, patches in cases.items():
    placed = adjoint_shift(scan, patches.to(torch.complex64) * weights, idx)
    out = {}
    for fl in (1e-6, 1e-3, 1e-6, 1e-3):
        ts=[]
        for _ in range(9):
            t=time.perf_counter(); out[fl]=ps.phase_offsets(patches, positions, weights, placed=placed, support_floor=fl).numpy(); ts.append(time.perf_counter()-t)
        d = np.abs(np.angle(out[fl]*np.conj(out[1e-6]))).max()
        print(name, fl, "s", round(statistics.median(ts),4), "max dphase rad", d)
