r"""The two-dimensional toy of the paper's Fig. 2 (Kumar et al. 2022, §3), computed, not sketched.

Setting (``docs/theory.md`` §5): d = 2, k = 1, one training point :math:`x_{id} = e_1`
(so S = span(e₁) and the OOD direction is :math:`e_2 \in S^\perp`), pretrained feature
:math:`B_0 = (\cos a, \sin a)`, ground truth :math:`w_\star = (w_1, w_2)`, scalar head
:math:`v_0`, worst-case OOD loss :math:`L_{ood} = \|w - w_\star\|^2` (Σ = I). This lies outside
the theorems' regime (m + k = d); it is an illustration.

Closed forms of the limits (k = 1):

* **LP** [``docs/theory.md`` §5(a)]: :math:`v_{lp} = w_1/\cos a` and :math:`w_{lp} = v_{lp}B_0^\top = (w_1, w_1\tan a)`:
  the scaling of B₀ that gets :math:`x_{id}` right.
* **FT** [derived, ``docs/theory.md`` §5(b)]: B's second coordinate is frozen at sin a (Lemma A.3) and
  :math:`v^2 - \|B\|^2` is conserved (Lemma A.4). At the limit :math:`v_\infty b_{1,\infty} = w_1`,
  so :math:`v_\infty^2 - w_1^2/v_\infty^2 - \sin^2 a = v_0^2 - 1`, i.e.

  .. math:: v_\infty^2 = \frac{c + \sqrt{c^2 + 4w_1^2}}{2},\qquad c = v_0^2 - 1 + \sin^2 a,

  and :math:`w_{ft} = (w_1, v_\infty\sin a)`. The modulus of :math:`v_\infty` follows from the two
  conservation laws alone; its sign is that of :math:`v_0` when v keeps its sign along the flow
  (e.g. whenever :math:`v_0 w_1\cos a > 0`).
* **LP-FT**: after LP the single training point is fitted exactly, the residual is zero and FT
  never moves: :math:`w_{lpft} = w_{lp}`.

``tests/test_toy.py`` checks these against an independent scipy integration.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .problem import Problem, regime_warnings_silenced

#: The figure's parameters: w* at 45°, B₀ at 50° (good features, 5° off), a small positive head.
TOY_DEFAULTS = dict(a=math.radians(50.0), w_star=(1.0, 1.0), v0=0.1)
#: Save times of :func:`simulate_toy`.
TOY_TIMES = np.concatenate([[0.0], np.geomspace(1e-3, 1e2, 120)])


def _check(a, w_star, v0):
    a = float(a)
    if not math.isfinite(a) or abs(math.cos(a)) < 1e-12:
        raise ValueError(f"a must be finite with cos(a) != 0 (B0 = (cos a, sin a) must see x_id = e1), got {a}")
    w = np.asarray(w_star, dtype=np.float64).reshape(-1)
    if w.shape != (2,) or not np.all(np.isfinite(w)):
        raise ValueError(f"w_star must be 2 finite numbers, got {w_star!r}")
    if not np.linalg.norm(w) > 0:
        raise ValueError("w_star must be nonzero")
    v0 = float(v0)
    if not math.isfinite(v0):
        raise ValueError(f"v0 must be finite, got {v0}")
    return a, w, v0


def toy_problem(a: float = TOY_DEFAULTS["a"], w_star=TOY_DEFAULTS["w_star"], v0: float = TOY_DEFAULTS["v0"]) -> Problem:
    r"""The toy as a :class:`Problem`: X = [e₁ᵀ], y = [w₁], B₀ = [(cos a, sin a)], head v₀,
    :math:`B_\star = w_\star/\|w_\star\|`, :math:`v_\star = \|w_\star\|` (so the ε of the toy is
    :math:`d(B_0, B_\star) = 2\sin(|a - \angle w_\star|/2)` for angles within 90°)."""
    a, w, v0 = _check(a, w_star, v0)
    norm = float(np.linalg.norm(w))
    with regime_warnings_silenced():  # d = 2, k = m = 1: outside the theorems' regime
        return Problem.from_arrays(
            X=np.array([[1.0, 0.0]]), y=np.array([w[0]]), B0=np.array([[math.cos(a), math.sin(a)]]),
            v0=np.array([v0]), w_star=w, B_star=(w / norm)[None, :], v_star=np.array([norm]),
        )


def lp_closed_form(a: float, w_star) -> tuple:
    r"""``(v_lp, w_lp)``: :math:`v_{lp} = w_1/\cos a`, :math:`w_{lp} = (w_1, w_1\tan a)` (``docs/theory.md`` §5a)."""
    a, w, _ = _check(a, w_star, 0.0)
    v = w[0] / math.cos(a)
    return v, np.array([w[0], w[0] * math.tan(a)])


def ft_closed_form(a: float, w_star, v0: float, sign=None) -> dict:
    r"""The FT limit from balancedness (``docs/theory.md`` §5b, [derived]).

    Returns ``v_inf`` (:math:`\pm\sqrt{(c+\sqrt{c^2+4w_1^2})/2}`), ``b1_inf`` (:math:`w_1/v_\infty`),
    ``w_ft`` = :math:`(w_1, v_\infty\sin a)` and ``c``. ``sign`` is the sign of :math:`v_\infty`:
    by default that of :math:`v_0` (that of :math:`w_1\cos a` when :math:`v_0 = 0`, the direction
    the first step takes), which is right when v keeps its sign along the flow.
    """
    a, w, v0 = _check(a, w_star, v0)
    w1 = w[0]
    c = v0 * v0 - 1.0 + math.sin(a) ** 2
    v2 = 0.5 * (c + math.sqrt(c * c + 4.0 * w1 * w1))
    if sign is None:
        sign = math.copysign(1.0, v0) if v0 != 0 else math.copysign(1.0, w1 * math.cos(a))
    sign = float(np.sign(sign))
    if sign == 0:
        raise ValueError("sign must be +1 or -1")
    v = sign * math.sqrt(v2)
    b1 = w1 / v if v != 0 else math.cos(a)  # w1 = 0 and c <= 0: the flow stops at v = 0
    return dict(c=c, v_inf=v, b1_inf=b1, w_ft=np.array([w1, v * math.sin(a)]))


def ood_loss(w, w_star) -> float:
    r"""Worst-case OOD loss :math:`\|w - w_\star\|^2` (Σ = I)."""
    return float(np.sum((np.asarray(w, dtype=np.float64) - np.asarray(w_star, dtype=np.float64)) ** 2))


def simulate_toy(a: float = TOY_DEFAULTS["a"], w_star=TOY_DEFAULTS["w_star"], v0: float = TOY_DEFAULTS["v0"],
                 times=None) -> dict:
    r"""LP, FT and LP-FT on the toy with :func:`lpft_theory.solve.simulate` (reduced coordinates).

    ``times``: increasing finite save times starting at 0 (default :data:`TOY_TIMES`: 0 plus 120
    log-spaced points from 1e-3 to 1e2; the flow's rates are O(1), so at t = 100 it has converged
    to the solver's error floor, ~1e-10 at the default rtol 1e-10).
    Returns per method ``times``, ``v`` (T,), ``B`` (T, 2), ``w`` (T, 2) and the endpoint
    ``w_end`` and ``grad_norm_end`` (‖∇L̂‖ at the last time, to show convergence).
    """
    from . import flows
    from .reduced import reduce
    from .solve import simulate

    a, w, v0 = _check(a, w_star, v0)
    if times is None:
        times = TOY_TIMES
    times = np.asarray(times, dtype=np.float64)
    if not (times.ndim == 1 and times.size >= 2 and times[0] == 0.0 and np.all(np.isfinite(times))):
        raise ValueError("times must be a 1-D array of finite times starting at 0")
    p = toy_problem(a, w, v0)
    rp = reduce(p)
    out = {}
    for method in ("lp", "ft", "lpft"):
        tr = simulate(rp, method, times)
        B = np.asarray(tr.B())[:, 0, :]
        v = np.asarray(tr.v)[:, 0]
        g = float(flows.ft_gradient_norm(rp, tr.v[-1], tr.B_S[-1])) if method != "lp" else float(
            jnp.linalg.norm(flows.lp_field(0.0, tr.v[-1], rp)))
        out[method] = dict(times=times, v=v, B=B, w=B * v[:, None], w_end=B[-1] * v[-1], grad_norm_end=g)
    return out


def lp_path_w(a: float, v) -> np.ndarray:
    r"""Points :math:`w = v B_0^\top = v(\cos a, \sin a)` of the LP path for head values ``v`` (shape (n,) -> (n, 2)).

    LP moves only the head, so its path in the w-plane is the segment of the line through B₀ from
    :math:`v_0 B_0` to :math:`w_{lp}`; the head runs monotonically from v₀ to :math:`v_{lp}` (a 1-D linear ODE).
    """
    a, _, _ = _check(a, (1.0, 0.0), 0.0)
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return v[:, None] * np.array([math.cos(a), math.sin(a)])[None, :]


def ft_path_w(a: float, v0: float, v) -> np.ndarray:
    r"""Points of the FT path in the w-plane for head values ``v`` (shape (n,) -> (n, 2)), from the two
    conservation laws (``docs/theory.md`` §5b, [derived]).

    B's second coordinate stays at sin a (Lemma A.3: FT changes B only inside S = span(e₁)), and
    :math:`v^2 - \|B\|^2 = v_0^2 - 1` (Lemma A.4), so :math:`b_1^2 = v^2 - v_0^2 + \cos^2 a` and

    .. math:: w(v) = \big(v\,b_1(v),\; v\sin a\big),\qquad b_1(v) = \operatorname{sign}(\cos a)\sqrt{v^2 - v_0^2 + \cos^2 a}.

    The sign of b₁ is that of its start cos a, right while b₁ does not pass through 0 (always when
    :math:`|v| \ge |v_0|` along the path, since then :math:`b_1^2 \ge \cos^2 a > 0`).

    Raises:
        ValueError: some ``v`` has :math:`v^2 < v_0^2 - \cos^2 a` (no point of the flow has that head).
    """
    a, _, v0 = _check(a, (1.0, 0.0), v0)
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    b1sq = v * v - v0 * v0 + math.cos(a) ** 2
    if np.any(b1sq < -1e-12):
        raise ValueError("some head values are unreachable by FT from this start (v^2 < v0^2 - cos^2 a)")
    b1 = math.copysign(1.0, math.cos(a)) * np.sqrt(np.maximum(b1sq, 0.0))
    return np.stack([v * b1, v * math.sin(a)], axis=1)


def toy_paths(a: float = TOY_DEFAULTS["a"], w_star=TOY_DEFAULTS["w_star"], v0: float = TOY_DEFAULTS["v0"],
              n: int = 200) -> dict:
    r"""The LP, FT and LP-FT paths of the toy in the w-plane, and their OOD losses, in closed form (no ODE).

    Each path is ``n`` points from the start :math:`v_0 B_0^\top` to the limit, parametrised by the head v
    running linearly from v₀ to its limit: LP by :func:`lp_path_w` (to :math:`v_{lp}`), FT by
    :func:`ft_path_w` (to :math:`v_\infty` of :func:`ft_closed_form`), LP-FT = the LP segment (FT then
    never moves, the single training point being fitted). Instant, so a slider can redraw it.

    Returns:
        dict with per method (``"lp"``, ``"ft"``, ``"lpft"``) a dict ``w`` (n, 2), ``w_end`` (2,) and
        ``ood`` (:func:`ood_loss` of the end).
    """
    a, w, v0 = _check(a, w_star, v0)
    n = int(n)
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    s = np.linspace(0.0, 1.0, n)
    v_lp, _ = lp_closed_form(a, w)
    v_ft = ft_closed_form(a, w, v0)["v_inf"]
    lp = lp_path_w(a, v0 + s * (v_lp - v0))
    ft = ft_path_w(a, v0, v0 + s * (v_ft - v0))
    out = {}
    for method, path in (("lp", lp), ("ft", ft), ("lpft", lp)):
        out[method] = dict(w=path, w_end=path[-1], ood=ood_loss(path[-1], w))
    return out
