import time, math, sys
import jax; jax.config.update("jax_enable_x64", True)
from lpft_theory._cache import enable_compilation_cache; enable_compilation_cache()
import numpy as np
from lpft_theory.figures import paper
from lpft_theory.scale.batch import simulate_batch
from lpft_theory.metrics import trajectory_metrics
c = paper.EPS_TRADEOFF
eps = np.concatenate([[0.0], np.geomspace(c["eps_min"], c["eps_max"], c["n_eps_full"])])
problems = [paper.random_problem(j, float(e), head_scale=c["head_scale"]) for e in eps for j in range(c["seeds_full"])]
out = {}
for m in ("ft", "lpft"):
  for ss, kw in [("kvaerno5", {}), ("rodas4_fused", {}), ("kvaerno5", dict(rtol=1e-12, atol=1e-14, gtol=1e-12))]:
    for rep in range(2 if not kw else 1):
        t0=time.perf_counter()
        tr = simulate_batch(problems, m, [math.inf], steady_solver=ss, **kw)
        met = trajectory_metrics(tr)
        dt=time.perf_counter()-t0
    out[(m, ss, bool(kw))] = np.asarray(met["ood_loss"])[:, -1], np.asarray(met["id_subspace_loss"])[:, -1]
    print(m, ss, kw, f"{dt:.2f} s", np.asarray(tr.num_steps).mean(), tr.info["work"]["waste"], np.all(tr.converged), flush=True)
  ref = out[(m, "kvaerno5", True)]
  for ss in ("kvaerno5", "rodas4_fused"):
    o, i = out[(m, ss, False)]
    print(m, ss, "ood rel err vs tight", np.max(np.abs(o - ref[0]) / np.abs(ref[0])), "id_sub abs", np.max(np.abs(i-ref[1])))
