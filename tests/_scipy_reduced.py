"""Independent reference for tests: scipy's DOP853 at rtol 1e-12 on the reduced FT flow, written from the math
(v' = -2 B r, B' = -2 v rᵀ, r = G(Bᵀv - a); docs/theory.md §3), no package code."""

import numpy as np
from scipy.integrate import solve_ivp


def scipy_reduced_final(G, a, v0, B0, T):
    """(v, B_S) at time ``T`` of the reduced FT flow from ``(v0, B0)``."""
    G, a, v0, B0 = (np.asarray(x, dtype=np.float64) for x in (G, a, v0, B0))
    k, m = B0.shape

    def f(t, z):
        v, B = z[:k], z[k:].reshape(k, m)
        r = G @ (B.T @ v - a)
        return np.concatenate([-2.0 * B @ r, (-2.0 * np.outer(v, r)).ravel()])

    sol = solve_ivp(f, (0.0, T), np.concatenate([v0, B0.ravel()]), method="DOP853", rtol=1e-12, atol=1e-14)
    assert sol.success, sol.message
    return sol.y[:k, -1], sol.y[k:, -1].reshape(k, m)
