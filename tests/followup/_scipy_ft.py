"""Independent FT limit for the follow-up tests: the full-dimensional gradient flow of docs/theory.md §2, integrated by
scipy's Radau (implicit, for the stiff approach to the minimum) until the gradient norm falls below gtol."""

import numpy as np
import scipy.integrate


def scipy_ft_limit(p, v0=None, gtol=1e-11):
    """(v, B) at the steady state of FT from (v0 or p.v0, p.B0), full coordinates, no package code."""
    X, y, B0 = (np.asarray(a, dtype=np.float64) for a in (p.X, p.y, p.B0))
    v0 = np.asarray(p.v0 if v0 is None else v0, dtype=np.float64)
    k, d = B0.shape
    XtX, Xty = X.T @ X, X.T @ y

    def rhs(t, z):
        v, B = z[:k], z[k:].reshape(k, d)
        g = XtX @ (B.T @ v) - Xty
        return np.concatenate([-2.0 * B @ g, (-2.0 * np.outer(v, g)).ravel()])

    z0 = np.concatenate([v0, B0.ravel()])
    thresh = gtol * max(1.0, float(np.linalg.norm(rhs(0.0, z0))))

    def event(t, z):
        return float(np.linalg.norm(rhs(t, z))) - thresh

    event.terminal = True
    sol = scipy.integrate.solve_ivp(rhs, (0.0, 1e6), z0, method="Radau", rtol=1e-11, atol=1e-13, events=event)
    assert sol.status == 1, sol.message
    z = sol.y[:, -1]
    return z[:k], z[k:].reshape(k, d)
