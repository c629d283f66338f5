"""ood_vs_time's representative flat minimum: sqrt(L_ood) of FT at the t_min stored at dce221e (Kvaerno5 observer)
and at this commit (Rodas4 observer), integrated at rtol 1e-13. Usage: python flat_minimum.py OLD.json NEW.json"""
import sys
import numpy as np, jax, json
jax.config.update("jax_enable_x64", True)
from lpft_theory.figures import paper
from lpft_theory.theory.bounds import align_representative
from lpft_theory.solve import simulate
from lpft_theory.metrics import trajectory_metrics
a = json.load(open(sys.argv[1]))["representative_observed_min"]
b = json.load(open(sys.argv[2]))["representative_observed_min"]
d = json.load(open(sys.argv[2]))
c = paper.OOD_TIME
# find the representative seed the same way: recompute via the rule is long; try every seed and match the observed value
for seed in range(32):
    p = align_representative(paper.random_problem(seed, c["eps"], head_scale=c["head_scale"]))
    ts = sorted([a["t_min"], b["t_min"]])
    tr = simulate(p, "ft", [0.0] + ts, rtol=1e-13, atol=1e-15)
    v = np.sqrt(np.asarray(trajectory_metrics(tr)["ood_loss"]))[1:]
    if abs(v[0] - a["value"]) < 1e-9:
        print("seed", seed, "t_min (Kvaerno5, Rodas4)", a["t_min"], b["t_min"], "sqrt L_ood there (Tsit5, rtol 1e-13):", repr(v[0]), repr(v[1]), "diff", v[1]-v[0])
        grid = np.linspace(ts[0]*0.8, ts[1]*1.2, 41)
        tr = simulate(p, "ft", [0.0] + list(grid), rtol=1e-13, atol=1e-15)
        g = np.sqrt(np.asarray(trajectory_metrics(tr)["ood_loss"]))[1:]
        print("range of sqrt L over [0.8 t1, 1.2 t2]:", g.min(), g.max(), g.max()-g.min())
        break
