from pathlib import Path
import sys, json, time, os
os.environ["OMP_NUM_THREADS"]="1"
import ptycho_nl.train.config as tc
order, batch, lr, dose, epochs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
orig = tc.default_config
def patched(model="pinn", epochs=5, **over):
    if model == "pinn":
        over["data"] = {**over["data"], "batch_order": order}
        over["optimizer"] = {**over["optimizer"], "lr": lr}
        over["batch_size"] = batch
    return orig(model, epochs, **over)
tc.default_config = patched
from ptycho_nl.study.design import PRESETS, DENSE, StudyDesign
from ptycho_nl.study.dose_overlap import run_study
from ptycho_nl.study.jobs import load_manifest
D = PRESETS["demo"]
cell = StudyDesign(name="q", doses=[dose], views=[DENSE], models=["pinn"], object_size=256, patch_size=32,
    simulation_seed=0, batch_size=16, learning_rate=D.learning_rate, pinn_learning_rate=D.pinn_learning_rate,
    pinn_schedule=D.pinn_schedule, pinn_gridsize=2, pinn_epochs=epochs,
    tiles_per_side=4, channels=D.channels, global_features=D.global_features)
out = Path(f"/tmp/exp/r_{order}_{batch}_{lr}_{dose:g}_{epochs}")
t=time.time(); run_study(cell, out); t=time.time()-t
m = load_manifest(out, "G").jobs[f"G-d{dose:.0e}-dense".replace("e+0","e")].metrics["methods"]
print(order, batch, lr, dose, epochs, f"{t:.0f}s", {k: {x: round(v[x],3) for x in ("phase_ssim","nrmse")} for k, v in m.items()}, flush=True)
