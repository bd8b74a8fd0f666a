import sys, json, time
from pathlib import Path
from ptycho_nl.study.design import DENSE, PRESETS, StudyDesign
from ptycho_nl.study.dose_overlap import run_study
from ptycho_nl.study.jobs import load_manifest
from ptycho_nl.study.phases import COMPARE, dose_tag
DEMO = PRESETS["demo"]
fields = ["object_size","patch_size","simulation_seed","batch_size","learning_rate","pinn_gridsize","pinn_epochs","pinn_learning_rate","pinn_schedule","tiles_per_side","channels","global_features","early_stop_patience"]
cell = StudyDesign(name="demo_quality_cell", doses=[max(DEMO.doses)], views=[DENSE], models=["pinn"], **{f: getattr(DEMO,f) for f in fields})
out = Path(sys.argv[1]); t=time.time()
r = run_study(cell, out)
m = load_manifest(out, COMPARE.key).jobs[f"G-{dose_tag(1e5)}-dense"].metrics["methods"]
print(json.dumps({k: {kk: round(v,4) for kk,v in m[k].items() if kk in ("phase_ssim","nrmse")} for k in m}), round(time.time()-t,1))
