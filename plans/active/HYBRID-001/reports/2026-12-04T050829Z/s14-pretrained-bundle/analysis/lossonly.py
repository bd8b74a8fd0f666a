import os,sys,time,statistics
exec(open("/tmp/s14/prof_step.py").read().split("def step():")[0])
src = open("/tmp/s14/pinn_old.py").read().replace('@register("pinn", prepare=prepare_patch_task)\n','')
old = {}; exec(compile(src, "pinn_old", "exec"), old)
from ptycho_nl.models import pinn as P
with torch.no_grad(): pred0 = model.predict_groups(batch["diffraction"])
class Fake(torch.nn.Module):
    def __init__(s): super().__init__(); s.x = torch.nn.Parameter(pred0.clone())
    def predict_groups(s, d, i=None): return s.x * 1
f = Fake()
def ov_intensity(patches, positions, weight, mean=None):
    b, c, n, _ = patches.shape
    if mean is None: mean = P.canvas_average(patches, positions, weight)
    w = weight.to(patches.real.dtype).expand(b, c, n, n)
    d = patches - mean
    residual = d.real.square() + d.imag.square()
    return (w * residual).sum() / w.sum().clamp_min(torch.finfo(w.dtype).tiny)
newov = P.overlap_inconsistency
def run_new_int(b,c):
    P.overlap_inconsistency = ov_intensity
    try: return P.PINN.training_loss(f,b,c)
    finally: P.overlap_inconsistency = newov
variants = {"old": lambda b,c: old["PINN"].training_loss(f,b,c), "new": lambda b,c: P.PINN.training_loss(f,b,c), "new_int": run_new_int}
def mk(fn):
    def step():
        f.x.grad=None
        loss,_ = fn(batch, ctx); loss.backward()
    return step
steps={k:mk(v) for k,v in variants.items()}
for k in steps:
    for _ in range(5): steps[k]()
ts={k:[] for k in steps}
for r in range(25):
    for k in steps:
        t=time.perf_counter()
        for _ in range(10): steps[k]()
        ts[k].append((time.perf_counter()-t)/10)
for k in steps: print(k, "median", round(statistics.median(ts[k])*1e3,2), "min", round(min(ts[k])*1e3,2))
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU]) as p:
    for _ in range(20): steps["new"]()
print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
