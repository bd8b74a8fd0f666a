import os,sys,time,statistics
exec(open("/tmp/s14/prof_step.py").read().split("def step():")[0])
src = open("/tmp/s14/pinn_old.py").read().replace('@register("pinn", prepare=prepare_patch_task)\n','')
old = {}; exec(compile(src, "pinn_old", "exec"), old)
def overlap_real(patches, positions, weight):
    b, c, n, _ = patches.shape
    mean = old["canvas_average"](patches, positions, weight)
    w = weight.to(patches.real.dtype).to(patches.device).expand(b, c, n, n)
    residual = torch.view_as_real(patches - mean).square().sum(-1)
    return (w * residual).sum() / w.sum().clamp_min(torch.finfo(w.dtype).tiny)
oldloss = old["PINN"].training_loss
newloss = type(model).training_loss
def realloss(self,b,c):
    old["overlap_inconsistency"]=overlap_real
    try: return oldloss(self,b,c)
    finally: old["overlap_inconsistency"]=orig_ov
orig_ov = old["overlap_inconsistency"]
def mk(fn):
    def step():
        opt.zero_grad(set_to_none=True)
        loss,_ = fn(model, batch, ctx)
        loss.backward(); opt.step()
    return step
steps={"old":mk(oldloss),"oldreal":mk(realloss),"new":mk(newloss)}
for k in steps:
    for _ in range(3): steps[k]()
ts={k:[] for k in steps}
for r in range(int(sys.argv[1]) if len(sys.argv)>1 else 9):
    for k in steps:
        t=time.perf_counter()
        for _ in range(10): steps[k]()
        ts[k].append((time.perf_counter()-t)/10)
for k in steps: print(k, "median", round(statistics.median(ts[k])*1e3,2), "min", round(min(ts[k])*1e3,2))
