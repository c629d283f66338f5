r"""The exact k = 1, ε = 0 case of FT: its t = ∞ limit, the sign of the head, and the ratio observed/bound.

Setting (``docs/theory.md`` §9 [derived]): one feature row :math:`b\in\mathbb R^d`, a scalar head v, and
perfect features, :math:`B_0 = \pm B_\star`, so :math:`w_\star = v_\star b_0` with :math:`v_\star` read in
B₀'s frame (:math:`v_\star = b_0^\top w_\star`). Write :math:`s = \|\Pi_S b_0\|`,
:math:`c = \|\Pi_{S^\perp} b_0\| = \cos\theta(R_0,S^\perp)` (:math:`s^2 + c^2 = 1`), and
:math:`\delta = v_0^2 - s^2`.

* **Limit** (§9.1). Lemma A.3 freezes :math:`b_\perp = \Pi_{S^\perp}b_0`; at t = ∞ FT fits S,
  :math:`v_\infty\Pi_Sb_\infty = v_\star\Pi_Sb_0`; balancedness :math:`v^2 - \|\Pi_S b\|^2 = \delta` then gives
  :math:`u = v_\infty^2` as the positive root of :math:`u^2 - \delta u - v_\star^2s^2 = 0`, and
  :math:`e_\infty = (v_\infty - v_\star)\,b_\perp`.
* **Sign** (§9.2). :math:`\operatorname{sign}v_\infty` is :math:`\operatorname{sign}v_0` when
  :math:`\delta > 0` or :math:`(v_0 - v_\star)^2 < v_\star^2`; it is :math:`\operatorname{sign}v_\star` when
  :math:`\delta < 0` and :math:`G\,\Pi_Sb_0\parallel\Pi_Sb_0` (e.g. isotropic inputs). Otherwise the exact
  criterion is used: v vanishes only where :math:`\hat L = v_\star^2\,\beta_0^\top G\beta_0`, and
  :math:`\hat L` decreases strictly, so the sign of v at any time with :math:`\hat L` below that value
  is final; :func:`limit_of_problem` integrates the (1 + m)-dimensional S-flow until then.
* **Ratio** (§9.3, Σ = I, both statements; c cancels): with :math:`\rho = |v_\infty|`, :math:`w = |v_\star|`,
  :math:`\varphi = w\sqrt{|v_0^2 - w^2|}`,

  .. math:: \frac{\text{observed}}{\text{bound}} = \frac{|\sigma\rho - w|\,(1+w)^2}{\min(\varphi,\varphi^2/w)},\qquad
            \sigma = \operatorname{sign}(v_\infty v_\star),

  whose infimum over all parameters is 1/2 (not attained; :func:`ratio_inf` and §9.3).
* **Finite t, isotropic inputs** (§9.4). For :math:`G = gI` the S-flow stays on the line of
  :math:`\Pi_Sb_0`: :math:`(v,\rho)` moves on the hyperbola :math:`v^2-\rho^2 = \delta` with
  :math:`p = v\rho` monotone from :math:`v_0s` to :math:`v_\star s`, so :math:`\min_t\|e(t)\|` is a
  one-dimensional minimisation over p (:func:`arc_min_ood`), with no time integration.

Every function takes and returns arrays (numpy broadcasting); no I/O.
"""

from __future__ import annotations

import numpy as np

ARC_GRID = 4001
ZOOM_LEVELS = 4


def _f(x):
    return np.asarray(x, dtype=np.float64)


def pos_root(delta, q):
    r"""The positive root :math:`u = (\delta + \sqrt{\delta^2 + 4q})/2` of :math:`u^2 - \delta u - q = 0`
    (q ≥ 0), evaluated without cancellation (:math:`u = 2q/(\sqrt{\delta^2+4q} - \delta)` when δ < 0).

    Arguments:
        delta, q: arrays (broadcast).
    Returns:
        u ≥ 0, an array.
    """
    delta, q = np.broadcast_arrays(_f(delta), _f(q))
    r = np.sqrt(delta * delta + 4.0 * q)
    with np.errstate(divide="ignore", invalid="ignore"):
        neg = np.where(r - delta > 0, 2.0 * q / (r - delta), 0.0)
    return np.where(delta >= 0, 0.5 * (delta + r), neg)


def v_inf_abs(v0, v_star, s):
    r""":math:`|v_\infty| = \sqrt u`, u the positive root of :math:`u^2 - (v_0^2 - s^2)u - v_\star^2s^2 = 0` (§9.1).

    Arguments:
        v0, v_star, s: arrays (broadcast); v_star in B₀'s frame, s = ‖Π_S b₀‖ ∈ [0, 1].
    Returns:
        |v_∞| (array).
    """
    v0, v_star, s = _f(v0), _f(v_star), _f(s)
    return np.sqrt(pos_root(v0 * v0 - s * s, v_star * v_star * s * s))


def sign_rule(v0, v_star, s, aligned=True):
    r"""sign(v_∞) where a closed-form rule is proven (§9.2), else 0 (undetermined by the rule).

    Rules: δ = v₀² − s² > 0 ⇒ sign v₀; (v₀ − v*)² < v*² ⇒ sign v₀; v₀ = 0 ⇒ sign v*; δ < 0 and
    ``aligned`` (G Π_S b₀ ∥ Π_S b₀, e.g. isotropic G) ⇒ sign v*. δ = 0 with v₀v* < 0 and ``aligned``
    is the stable manifold of the saddle (v, b_S) = 0: 0.

    Arguments:
        v0, v_star, s: arrays (broadcast); aligned: bool or boolean array.
    Returns:
        an array of +1, −1 or 0 (float).
    """
    v0, v_star, s = np.broadcast_arrays(_f(v0), _f(v_star), _f(s))
    aligned = np.broadcast_to(np.asarray(aligned, dtype=bool), v0.shape)
    delta = v0 * v0 - s * s
    out = np.zeros(v0.shape)
    lossless = (v0 - v_star) ** 2 < v_star**2
    out = np.where(aligned & (delta < 0), np.sign(v_star), out)
    out = np.where(aligned & (delta == 0) & (v0 * v_star > 0), np.sign(v_star), out)
    out = np.where(v0 == 0, np.sign(v_star), out)
    out = np.where((delta > 0) | lossless, np.sign(v0), out)
    return out


def limit_scalars(v0, v_star, s, sign):
    r"""The t = ∞ limit from the scalars: ``v_inf`` = sign·|v_∞| and ``rho_inf`` = v* s / v_∞ (the
    coordinate of Π_S b_∞ along Π_S b₀/s), and ``gap`` = v_∞ − v*, computed without cancellation
    (:math:`v_\infty - v_\star = (u - v_\star^2)/(v_\infty + v_\star)` when the signs agree, with
    :math:`u - v_\star^2 = v_\star^2(v_0^2 - v_\star^2)/(u + v_\star^2 + s^2 - v_0^2)`).

    Arguments:
        v0, v_star, s, sign: arrays (broadcast), sign ∈ {+1, −1}.
    Returns:
        dict of arrays ``v_inf``, ``rho_inf``, ``gap``.
    """
    v0, v_star, s, sign = np.broadcast_arrays(_f(v0), _f(v_star), _f(s), _f(sign))
    u = pos_root(v0 * v0 - s * s, v_star * v_star * s * s)
    rho = np.sqrt(u)
    v_inf = sign * rho
    den = u + v_star * v_star + s * s - v0 * v0  # = (sqrt(delta^2+4q) - delta)/2 + v*^2 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        u_minus = v_star * v_star * (v0 * v0 - v_star * v_star) / den
        same = np.where(rho + np.abs(v_star) > 0, np.sign(v_star) * u_minus / (rho + np.abs(v_star)), 0.0)
        gap = np.where(sign * v_star > 0, same, v_inf - v_star)
        rho_inf = np.where(v_inf != 0, v_star * s / v_inf, np.nan)
    return dict(v_inf=v_inf, rho_inf=rho_inf, gap=gap)


def phi_final(v0, v_star):
    r""":math:`\varphi = |v_\star|\sqrt{|v_0^2 - v_\star^2|}` (k = 1 form of the final φ, §1)."""
    v0, v_star = _f(v0), _f(v_star)
    return np.abs(v_star) * np.sqrt(np.abs(v0 * v0 - v_star * v_star))


def bound_over_c(v0, v_star):
    r"""The bound divided by c = cos θ(R₀, S⊥), for k = 1, ε = 0, Σ = I:
    :math:`\min(\varphi, \varphi^2/w)/(1+w)^2`, w = |v*| (both statements; the submission's needs
    :math:`v_0^2\ge v_\star^2`)."""
    w = np.abs(_f(v_star))
    phi = phi_final(v0, v_star)
    return np.minimum(phi, phi * phi / w) / (1.0 + w) ** 2


def ratio_inf(v0, v_star, s, sign):
    r"""observed/bound at t = ∞ for k = 1, ε = 0, Σ = I (§9.3): :math:`|v_\infty - v_\star|\,(1+w)^2/\min(\varphi,\varphi^2/w)`.

    Arguments:
        v0, v_star, s, sign: arrays (broadcast); sign = sign(v_∞).
    Returns:
        the ratio (inf where φ = 0 and the limit error is positive, NaN where both vanish).
    """
    gap = limit_scalars(v0, v_star, s, sign)["gap"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(gap) / bound_over_c(v0, v_star)


def ratio_inf_rho(rho, w, s):
    r"""The same ratio for sign(v_∞) = sign(v*), written in ρ = |v_∞|, w = |v*| > 0 and s (§9.3):

    .. math:: R = \frac{(1+w)^2\rho^2\max(1,\varphi/w)}{w(\rho^2+s^2)(\rho+w)},\qquad
              \varphi = w\sqrt{|\rho^2-w^2|(\rho^2+s^2)}/\rho .

    Arguments:
        rho, w, s: arrays (broadcast), ρ > 0.
    Returns:
        R (array).
    """
    rho, w, s = _f(rho), _f(w), _f(s)
    P = rho * rho + s * s
    phi_w = np.sqrt(np.abs(rho * rho - w * w) * P) / rho
    return (1.0 + w) ** 2 * rho * rho * np.maximum(1.0, phi_w) / (w * P * (rho + w))


def v0_of_rho(rho, w, s):
    r""":math:`v_0^2 = \rho^2 + s^2(1 - w^2/\rho^2)`: the initial head (squared) whose limit has |v_∞| = ρ."""
    rho, w, s = _f(rho), _f(w), _f(s)
    return rho * rho + s * s * (1.0 - w * w / (rho * rho))


def failure_region(v0, v_star, s, sign):
    r"""Boolean mask of the t = ∞ failure region (§9.3): bound > 0 (φ > 0, c > 0) and ratio < 1.

    Arguments:
        v0, v_star, s, sign: arrays (broadcast).
    Returns:
        boolean array.
    """
    s = _f(s)
    r = ratio_inf(v0, v_star, s, sign)
    return (phi_final(v0, v_star) > 0) & (s < 1) & np.isfinite(r) & (r < 1)


def _arc_states(p, delta, x_sign):
    """(v, ρ) on the hyperbola v² − ρ² = δ at product p (branch: v keeps x_sign when δ > 0, ρ > 0 otherwise)."""
    v2 = pos_root(delta, p * p)
    r2 = pos_root(-delta, p * p)
    v_pos = x_sign * np.sqrt(v2)
    rho_pos = np.sqrt(r2)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(delta > 0, v_pos, np.where(rho_pos > 0, p / rho_pos, 0.0))
        rho = np.where(delta > 0, np.where(v_pos != 0, p / v_pos, 0.0), rho_pos)
    return v, rho


def arc_min_ood(v0, v_star, s, M=None, grid: int = ARC_GRID, zoom: int = ZOOM_LEVELS):
    r"""min over t ≥ 0 of √L_ood along FT for k = 1, ε = 0 and isotropic inputs (G = gI), exactly (§9.4).

    The trajectory is the arc of the hyperbola :math:`v^2 - \rho^2 = v_0^2 - s^2` on which
    :math:`p = v\rho` runs monotonically from :math:`v_0s` to :math:`v_\star s`; the error is
    :math:`e = (p - v_\star s)\hat\beta_0 + (v - v_\star)b_\perp`, so
    :math:`L_{ood} = [p - v_\star s,\ v - v_\star]\,M\,[\cdot]^\top` with
    :math:`M = [[\hat\beta_0^\top\Sigma\hat\beta_0,\ \hat\beta_0^\top\Sigma b_\perp],[\cdot,\ b_\perp^\top\Sigma b_\perp]]`
    (Σ = I: M = diag(1, c²)). The minimum over p is taken on a ``grid``-point grid (uniform in p and
    geometric towards the end), zoomed :data:`ZOOM_LEVELS` times (2001 points around the grid minimum) and
    refined by a bounded scalar minimisation; the end point uses the cancellation-free limit of
    :func:`limit_scalars`. g only rescales time, so it does not enter. One head; :func:`arc_min_ood_batch`
    does many heads that share v* and s in one pass, with the same arithmetic.

    Arguments:
        v0, v_star, s: scalars (v_star in B₀'s frame, s ∈ (0, 1)); M: 2×2 array or None (Σ = I);
            grid, zoom: grid size and number of zoom levels.
    Returns:
        dict: ``min`` (√L_ood), ``p_min``, ``v_min`` (head at the minimum), ``at_limit`` (bool),
        ``limit`` (√L_ood(∞)), ``v_inf``.
    Raises:
        ValueError: the start lies on the saddle's stable manifold (δ = 0, v₀v* < 0) or s ∉ (0, 1].
    """
    r = arc_min_ood_batch(np.array([float(v0)]), v_star, s, M=M, grid=grid, zoom=zoom)
    return dict(min=float(r["min"][0]), p_min=float(r["p_min"][0]), v_min=float(r["v_min"][0]),
                at_limit=bool(r["at_limit"][0]), limit=float(r["limit"][0]), v_inf=float(r["v_inf"][0]))


def _arc_v(p, delta, x_sign):
    """The head v of :func:`_arc_states` alone (the same arithmetic, element by element).

    Both branches are evaluated on the broadcast arrays and the one each δ selects is kept: with δ and
    the sign constant along a row of heads' grid points (the usual call), that is cheaper than gathering
    the elements of each branch, and every element gets the same operations in the same order."""
    p, delta, x_sign = _f(p), _f(delta), _f(x_sign)
    q = p * p
    # δ > 0: v keeps x_sign, v² = (δ + √(δ² + 4p²))/2
    v_up = x_sign * np.sqrt(0.5 * (delta + np.sqrt(delta * delta + 4.0 * q)))
    dn = -delta  # δ ≤ 0: ρ > 0, ρ² = (−δ + √(δ² + 4p²))/2, v = p/ρ
    rho = np.sqrt(0.5 * (dn + np.sqrt(dn * dn + 4.0 * q)))
    with np.errstate(divide="ignore", invalid="ignore"):
        v_dn = np.where(rho > 0, p / rho, 0.0)
    return np.where(delta > 0, v_up, v_dn)


def _arc_err(p, delta, x_sign, w, p1, M):
    """√L_ood at product p on the arc (broadcast over p, delta, x_sign)."""
    v = _arc_v(p, delta, x_sign)
    a, b = np.asarray(p) - p1, v - w
    return np.sqrt(np.maximum(M[0, 0] * a * a + 2 * M[0, 1] * a * b + M[1, 1] * b * b, 0.0))


def arc_min_ood_batch(v0, v_star, s, M=None, grid: int = ARC_GRID, zoom: int = ZOOM_LEVELS) -> dict:
    r""":func:`arc_min_ood` for many heads ``v0`` (n,) that share ``v_star`` and ``s``.

    The grid and zoom stages run on (n, points) arrays; only the final bounded scalar minimisation loops
    over heads. Every operation is elementwise, so each head gets bit for bit the value that
    :func:`arc_min_ood` gives it alone.

    Arguments:
        v0: (n,) heads; v_star, s, M, grid, zoom: as in :func:`arc_min_ood`.
    Returns:
        dict of (n,) arrays with the keys of :func:`arc_min_ood`.
    Raises:
        ValueError: some start lies on the saddle's stable manifold, or s ∉ (0, 1].
    """
    import scipy.optimize

    v0 = _f(v0).reshape(-1)
    w, s = float(v_star), float(s)
    if not 0 < s <= 1:
        raise ValueError(f"s must lie in (0, 1], got {s}")
    c2 = max(1.0 - s * s, 0.0)
    M = np.diag([1.0, c2]) if M is None else _f(M)
    delta = v0 * v0 - s * s
    sign = _f(sign_rule(v0, w, s, True)).reshape(-1)
    if np.any(sign == 0):
        raise ValueError("the start is on the stable manifold of the saddle (v, b_S) = 0 (delta = 0, v0 v* < 0)")
    lim = limit_scalars(v0, w, s, sign)
    v_inf = _f(lim["v_inf"])
    limit = np.abs(_f(lim["gap"])) * np.sqrt(M[1, 1])
    x_sign = np.where(v0 >= 0, 1.0, -1.0)
    p0, p1 = v0 * s, w * s
    span = p1 - p0
    n = v0.size
    rows = np.arange(n)
    dcol, xcol = delta[:, None], x_sign[:, None]
    frac = np.unique(np.concatenate([np.linspace(0.0, 1.0, grid), 1.0 - np.geomspace(1e-14, 1.0, grid)]))
    frac = frac[(frac >= 0) & (frac < 1)]  # the end point is the limit, handled below
    ps = p0[:, None] + span[:, None] * frac[None, :]
    vals = _arc_err(ps, dcol, xcol, w, p1, M)
    j = np.argmin(vals, axis=1)
    best, pbest = vals[rows, j], ps[rows, j]
    lo, hi = ps[rows, np.maximum(j - 1, 0)], ps[rows, np.minimum(j + 1, ps.shape[1] - 1)]
    del ps, vals
    active = hi != lo
    for _ in range(zoom):  # zoom: the minimum can be very flat in p
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        fine = np.linspace(lo[a], hi[a], 2001, axis=1)
        fv = _arc_err(fine, dcol[a], xcol[a], w, p1, M)
        jj = np.argmin(fv, axis=1)
        ra = np.arange(a.size)
        better = fv[ra, jj] < best[a]
        best[a] = np.where(better, fv[ra, jj], best[a])
        pbest[a] = np.where(better, fine[ra, jj], pbest[a])
        lo[a], hi[a] = fine[ra, np.maximum(jj - 1, 0)], fine[ra, np.minimum(jj + 1, fine.shape[1] - 1)]
        active[a] = hi[a] != lo[a]
    for i in np.flatnonzero((hi != lo) & (span != 0)):
        res = scipy.optimize.minimize_scalar(
            lambda q: float(_arc_err(q, delta[i], x_sign[i], w, p1, M)), bounds=(min(lo[i], hi[i]), max(lo[i], hi[i])),
            method="bounded", options=dict(xatol=1e-16 * max(abs(lo[i]), abs(hi[i]), 1e-300)))
        if res.fun < best[i]:
            best[i], pbest[i] = float(res.fun), float(res.x)
    at_limit = (limit <= best) | (span == 0)
    best = np.where(at_limit, limit, best)
    pbest = np.where(at_limit, p1, pbest)
    v_min = np.where(at_limit, v_inf, _arc_states(pbest, delta, x_sign)[0])
    return dict(min=best, p_min=pbest, v_min=v_min, at_limit=at_limit, limit=limit, v_inf=v_inf)


def arc_min_ratio(v0, v_star, s, **kwargs):
    r"""min over t of observed/bound for k = 1, ε = 0, isotropic inputs, Σ = I (§9.4): ``arc_min_ood``
    divided by c·:func:`bound_over_c` (``kwargs`` go to :func:`arc_min_ood`). Returns (ratio, dict of :func:`arc_min_ood`)."""
    r = arc_min_ood(v0, v_star, s, **kwargs)
    c = np.sqrt(max(1.0 - float(s) ** 2, 0.0))
    return r["min"] / (c * float(bound_over_c(v0, v_star))), r


# ---------------------------------------------------------------------------
# the scalars of a Problem, and its exact limit


def scalars_of_problem(problem, tol: float = 1e-10) -> dict:
    r"""The k = 1, ε = 0 scalars of ``problem``: ``v0``, ``v_star`` (B₀'s frame, :math:`b_0^\top w_\star`),
    ``s``, ``c``, and the S-coordinates ``G``, ``beta0`` (:math:`U_S^\top b_0`), ``U_S``, ``b_perp``.

    Raises:
        ValueError: k ≠ 1, or :math:`w_\star\notin\operatorname{span}(b_0)` (ε ≠ 0) beyond ``tol``.
    """
    from .. import geometry

    B0 = _f(problem.B0)
    if B0.shape[0] != 1:
        raise ValueError(f"k1: the problem must have k = 1, got k = {B0.shape[0]}")
    b0 = B0[0]
    w = _f(problem.w_star)
    vs = float(b0 @ w)
    if np.linalg.norm(w - vs * b0) > tol * max(1.0, np.linalg.norm(w)):
        raise ValueError("k1: w* is not a multiple of b0 (the exact k = 1 limit needs eps = 0)")
    X = _f(problem.X)
    U_S = _f(geometry.column_basis(X.T))
    beta0 = U_S.T @ b0
    b_perp = b0 - U_S @ beta0
    Z = X @ U_S
    return dict(v0=float(_f(problem.v0)[0]), v_star=vs, s=float(np.linalg.norm(beta0)),
                c=float(np.linalg.norm(b_perp)), G=Z.T @ Z, beta0=beta0, U_S=U_S, b_perp=b_perp)


def exact_sign(v0, v_star, G, beta0, *, rtol=1e-12, atol=1e-14, use_rules: bool = True):
    r"""sign(v_∞) for k = 1, ε = 0 by the exact criterion of §9.2: the closed-form rules of
    :func:`sign_rule` where they apply; otherwise integrate the S-flow :math:`\dot v = -2\beta^\top Gu`,
    :math:`\dot\beta = -2vGu`, :math:`u = v\beta - v_\star\beta_0` (scipy DOP853) until
    :math:`\hat L = u^\top Gu \le \hat L_0/2`, :math:`\hat L_0 = v_\star^2\beta_0^\top G\beta_0` (the training
    loss at every point with v = 0); v cannot vanish afterwards, so its sign then is final.

    Arguments:
        v0, v_star: floats; G: (m, m); beta0: (m,); use_rules: False skips the closed-form rules and
            always integrates (to check the rules).
    Returns:
        +1.0 or −1.0.
    Raises:
        RuntimeError: the integration did not reach the loss level (start on a saddle's stable manifold).
    """
    import scipy.integrate

    G, beta0 = _f(G), _f(beta0)
    s = float(np.linalg.norm(beta0))
    g = G @ beta0
    aligned = bool(np.linalg.norm(g - (beta0 @ g) / (s * s) * beta0) <= 1e-12 * np.linalg.norm(g))
    sg = float(sign_rule(v0, v_star, s, aligned)) if use_rules else 0.0
    if sg != 0:
        return sg
    a = v_star * beta0
    L0 = float(a @ G @ a)
    lam = float(np.linalg.eigvalsh(G)[-1])

    def rhs(t, z):
        u = z[0] * z[1:] - a
        gu = G @ u
        return np.concatenate([[-2.0 * z[1:] @ gu], -2.0 * z[0] * gu])

    def ev(t, z):
        u = z[0] * z[1:] - a
        return float(u @ G @ u) - 0.5 * L0

    ev.terminal = True
    z0 = np.concatenate([[v0], beta0])
    if ev(0.0, z0) < 0 and v0 != 0:  # the criterion already holds at t = 0
        return 1.0 if v0 > 0 else -1.0
    t_max = 1e8 / (lam * (1.0 + v0 * v0 + abs(v_star)))
    sol = scipy.integrate.solve_ivp(rhs, (0.0, t_max), z0, method="DOP853", rtol=rtol, atol=atol, events=ev)
    if sol.status != 1:
        raise RuntimeError("k1.exact_sign: the training loss did not fall below half the zero-head loss")
    return 1.0 if sol.y[0, -1] > 0 else -1.0


def limit_of_problem(problem) -> dict:
    r"""The exact t = ∞ limit of FT for a k = 1, ε = 0 problem (§9.1–9.2).

    Returns:
        dict: ``v_inf``, ``b_inf`` (d,), ``ood_identity`` = c|v_∞ − v*|, ``ood_sigma`` =
        :math:`|v_\infty - v_\star|\sqrt{b_\perp^\top\Sigma b_\perp}`, ``sign``, and the scalars
        ``v0, v_star, s, c``.
    Raises:
        ValueError: as :func:`scalars_of_problem`.
    """
    sc = scalars_of_problem(problem)
    v0, vs, s = sc["v0"], sc["v_star"], sc["s"]
    sign = exact_sign(v0, vs, sc["G"], sc["beta0"])
    lim = limit_scalars(v0, vs, s, sign)
    v_inf, gap = float(lim["v_inf"]), float(lim["gap"])
    b_inf = sc["U_S"] @ (vs * sc["beta0"] / v_inf) + sc["b_perp"]
    bp = sc["b_perp"]
    sig = bp @ bp if problem.sigma_ood is None else float(bp @ _f(problem.sigma_ood) @ bp)
    return dict(v_inf=v_inf, b_inf=b_inf, ood_identity=abs(gap) * sc["c"], ood_sigma=abs(gap) * np.sqrt(sig),
                sign=sign, v0=v0, v_star=vs, s=s, c=sc["c"])
