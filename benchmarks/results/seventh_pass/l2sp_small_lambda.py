import math, jax; jax.config.update("jax_enable_x64", True)
from lpft_theory.followup import projected as P
from lpft_theory.variants import l2sp
from lpft_theory.reduced import reduce
rp = reduce(P.problem(0))
lam = P.CONFIG["small_lambda"]
for ss, kw in [("kvaerno5", {}), ("rodas4_fused", {}), ("kvaerno5", dict(gtol=1e-13, rtol=1e-12, atol=1e-14)), ("rodas4_fused", dict(gtol=1e-13, rtol=1e-12, atol=1e-14)), ("rodas4_fused", dict(gtol=1e-14, rtol=1e-13, atol=1e-15))]:
    kw = dict(dict(gtol=P.CONFIG["gtol"]), **kw)
    tr = l2sp.simulate_l2sp(rp, lam, [math.inf], steady_solver=ss, **kw)
    print(ss, kw, P._limit(tr), int(tr.num_steps) if tr.num_steps is not None else None, flush=True)
