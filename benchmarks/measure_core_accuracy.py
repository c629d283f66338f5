"""Accuracy numbers of the core simulator quoted in the issue-2 closing note (run from the repo root:
``python benchmarks/measure_core_accuracy.py``). The same checks, with thresholds, are in tests/test_flows.py."""
import jax; jax.config.update('jax_enable_x64', True)
import numpy as np, math, sys
sys.path.insert(0, "tests")
import lpft_theory as lt
from test_flows import scipy_ft, SHAPE
bal=[]; perp=[]; mono=[]
for seed in range(3):
    p = lt.Problem.random(seed=seed, eps=0.3, **SHAPE)
    times = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 40)])
    tr = lt.simulate(p, "ft", times, coords="full"); met = lt.trajectory_metrics(tr)
    v0, B0 = np.asarray(p.v0), np.asarray(p.B0); M0 = np.outer(v0,v0)-B0@B0.T
    B = np.asarray(tr.B()); v = np.asarray(tr.v)
    bal.append(max(np.linalg.norm(np.outer(a,a)-b@b.T-M0) for a,b in zip(v,B))/np.linalg.norm(M0))
    perp.append(met["perp_drift"].max()); L = met["train_loss"]; mono.append(np.max(np.diff(L))/L[0])
print("full-coords t<=1e4: max rel balancedness drift", max(bal), "max perp drift", max(perp), "max rel loss increase", max(mono))
errs=[]
for seed, eps, head in [(0, 0.1, "random"), (1, 0.5, "random"), (2, 0.05, "zero")]:
    p = lt.Problem.random(seed=seed, eps=eps, head=head, head_scale=0.5, **SHAPE)
    times = np.array([0.0, 0.01, 0.1, 0.5, 2.0]); v_ref, B_ref = scipy_ft(p, times)
    tr = lt.simulate(p, "ft", times)
    errs.append(max(np.abs(np.asarray(tr.v)-v_ref).max(), np.abs(np.asarray(tr.B())-B_ref).max()))
print("FT reduced vs scipy DOP853 full (rtol 1e-12): max abs diff", max(errs))
p = lt.Problem.random(seed=3, eps=0.2, **SHAPE)
t = np.array([0.0, 1e-6, 0.01, 0.3, 3.0, 30.0])
print("LP closed vs ODE max diff", float(np.max(np.abs(np.asarray(lt.simulate(p,"lp",t).v)-np.asarray(lt.simulate(p,"lp",t,lp_solver="ode").v)))))
p = lt.Problem.random(seed=5, eps=0.0, **SHAPE)
tt = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 12), [math.inf]])
print("LP-FT eps=0 max OOD", lt.trajectory_metrics(lt.simulate(p,"lpft",tt))["ood_loss"].max(), "FT min OOD", lt.trajectory_metrics(lt.simulate(p,"ft",tt))["ood_loss"].min())
