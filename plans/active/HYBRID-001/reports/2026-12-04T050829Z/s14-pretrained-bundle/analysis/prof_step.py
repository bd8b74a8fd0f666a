import os, sys, time, statistics
os.environ["OMP_NUM_THREADS"]="1"
import torch
from torch.profiler import profile, ProfilerActivity
from ptycho_nl.models.backbone import LossContext
from ptycho_nl.models.registry import build_model
from ptycho_nl.study.design import COMPACT_CHANNELS, COMPACT_DENSE
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True, warn_only=True)
n,b=32,16
torch.manual_seed(0)
model = build_model("pinn", n=n, channels=list(COMPACT_CHANNELS), global_features=COMPACT_DENSE)
grid = torch.tensor([[0.0, 0.0], [0.0, n / 4], [n / 4, 0.0], [n / 4, n / 4]])
batch = {"diffraction": torch.rand(b, 4, n, n) * 3, "positions": grid[None] + torch.rand(b, 1, 2) * 4 * n}
axis = (torch.arange(n) - n / 2) ** 2
probe = torch.exp(-(axis[:, None] + axis[None, :]) / (n * 1.5)).to(torch.complex64)
ctx = LossContext(probe=probe, intensity_scale=10.0, overlap_weight=1000.0)
opt = torch.optim.Adam(model.parameters(), 2e-3, foreach=True)
def step():
    opt.zero_grad(set_to_none=True)
    loss,_ = model.training_loss(batch, ctx)
    loss.backward(); opt.step()
for _ in range(5): step()
ts=[]
for r in range(7):
    t=time.perf_counter()
    for _ in range(10): step()
    ts.append((time.perf_counter()-t)/10)
print("step ms", statistics.median(ts)*1e3)
if len(sys.argv)>1:
    with profile(activities=[ProfilerActivity.CPU]) as p:
        for _ in range(10): step()
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=45))
