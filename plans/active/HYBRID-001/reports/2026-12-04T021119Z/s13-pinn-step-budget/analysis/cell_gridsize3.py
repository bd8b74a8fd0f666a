from pathlib import Path
import sys, time, os, re, statistics
os.environ["OMP_NUM_THREADS"] = "1"
os.cpu_count = lambda: 1  # one thread per job even when run_study's serial executor has the machine
import ptycho_nl.train.config as tc
batch, lr, dose, epochs = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
warm = int(sys.argv[5]) if len(sys.argv) > 5 else 3
order = sys.argv[6] if len(sys.argv) > 6 else "shuffled"
orig = tc.default_config
def patched(model="pinn", epochs=5, **over):
    if model == "pinn":
        over["data"] = {**over["data"], "gridsize": 3}
    return orig(model, epochs, **over)
tc.default_config = patched
from ptycho_nl.study.design import PRESETS, DENSE, StudyDesign
from ptycho_nl.study.dose_overlap import run_study
from ptycho_nl.study.jobs import load_manifest
D = PRESETS["demo"]
sched = D.pinn_schedule.model_copy(update={"warmup_epochs": warm})
cell = StudyDesign(name="q", doses=[dose], views=[DENSE], models=["pinn"], object_size=256, patch_size=32,
    simulation_seed=0, batch_size=batch, learning_rate=D.learning_rate, pinn_learning_rate=lr,
    pinn_schedule=sched, pinn_gridsize=2, pinn_epochs=epochs,
    tiles_per_side=4, channels=D.channels, global_features=D.global_features)
out = Path(f"/tmp/exp2/g3_{batch}_{lr}_{dose:g}_{epochs}_{warm}_{order}")
t = time.time(); run_study(cell, out); t = time.time() - t
tag = f"d{dose:.0e}".replace("e+0", "e")
m = load_manifest(out, "G").jobs[f"G-{tag}-dense"].metrics["methods"]
log = (out / f"runs/E-{tag}-dense-pinn-s0/run/logs/training.log").read_text()
ep = [float(x) for x in re.findall(r"duration_s=([0-9.]+)", log)]
print(order, batch, lr, dose, epochs, warm, f"total {t:.0f}s train {sum(ep):.0f}s median-epoch {statistics.median(ep):.2f}s min {min(ep):.2f}",
      {k: {x: round(v[x], 3) for x in ("phase_ssim", "nrmse")} for k, v in m.items()}, flush=True)
