import sys, json
import ptycho_nl.train.config as tc
name, lr, warm, minf = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
orig = tc.default_config
def patched(model="pinn", epochs=5, **over):
    if model == "pinn" and name != "const":
        over["schedule"] = {"name": "cosine", "warmup_epochs": warm, "min_lr_factor": minf}
        over["optimizer"] = {**over["optimizer"], "lr": lr}
    return orig(model, epochs, **over)
tc.default_config = patched
sys.path.insert(0, "/work/main/tests/ptycho_nl/study")
from ptycho_nl.study.design import PRESETS, DENSE, StudyDesign
from ptycho_nl.study.dose_overlap import run_study
from ptycho_nl.study.jobs import load_manifest
D = PRESETS["demo"]
cell = StudyDesign(name="q", doses=[1e5], views=[DENSE], models=["pinn"], object_size=256, patch_size=32,
    simulation_seed=0, batch_size=16, learning_rate=D.learning_rate, pinn_gridsize=2, pinn_epochs=int(sys.argv[5]),
    tiles_per_side=4, channels=D.channels, global_features=D.global_features)
out = f"/tmp/exp/s_{name}"
run_study(cell, out)
m = load_manifest(out, "G").jobs["G-d1e5-dense"].metrics["methods"]
print(name, {k: {x: round(v[x],3) for x in ("phase_ssim","nrmse")} for k, v in m.items()})
