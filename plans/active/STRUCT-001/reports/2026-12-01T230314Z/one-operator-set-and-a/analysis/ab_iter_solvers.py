"""A/B: seconds per iteration of our solvers, old tree vs new tree, on R1 (dose 1e4), runs of
both trees interleaved (each run a fresh process with 2 threads)."""
import json, os, statistics, subprocess, sys

CHILD = r'''
import json, os, sys, time
import numpy as np, torch
torch.set_num_threads(2)
sys.path.insert(0, "benchmarks")
import r1
from ptycho_nl.recon.iterative import IterativeOptions, reconstruct_iterative
variant, method, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = r1.r1_data(1e4)
kw = {}
if method.endswith("-round"):
    method = method[:-6]; kw["subpixel"] = "round"
init_probe = None
if variant == "blind":
    init_probe = r1.flat_disk_probe(np.abs(data.probe)); kw["update_probe"] = True
res = reconstruct_iterative(data, options=IterativeOptions(method=method, iterations=iters, **kw), initial_probe=init_probe)
sc = r1.score(res.object.numpy(), data.object)
print(json.dumps({"s": res.seconds_per_iteration, "nrmse": sc.get("nrmse")}))
'''
trees = {"old": "/tmp/orig", "new": "/work/main"}
cases = [("known", "epie"), ("known", "rpie"), ("known", "lsqml"), ("blind", "epie"), ("blind", "epie-round"), ("blind", "rpie")]
iters = int(sys.argv[1]) if len(sys.argv) > 1 else 30
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
out = {}
for rep in range(reps):
    for case in cases:
        for name, tree in trees.items():
            env = dict(os.environ, PYTHONPATH=tree, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="2")
            r = subprocess.run([sys.executable, "-c", CHILD, case[0], case[1], str(iters)], cwd=tree, env=env, capture_output=True, text=True)
            if r.returncode:
                print(r.stderr[-2000:]); sys.exit(1)
            out.setdefault((case, name), []).append(json.loads(r.stdout.strip().splitlines()[-1]))
print(f"{'case':22s} {'old s/it':>9s} {'new s/it':>9s} {'new/old':>8s} {'old nrmse':>10s} {'new nrmse':>10s}")
for case in cases:
    o, n = out[(case, "old")], out[(case, "new")]
    so, sn = statistics.median(x["s"] for x in o), statistics.median(x["s"] for x in n)
    print(f"{case[0]+' '+case[1]:22s} {so:9.4f} {sn:9.4f} {sn/so:8.3f} {o[-1]['nrmse']:10.4f} {n[-1]['nrmse']:10.4f}")
