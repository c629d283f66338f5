r"""The one result shape: :class:`Trajectory`, for every method and for batches.

A trajectory is the state :math:`(v, B_S)` of a flow (or of an iteration) in reduced coordinates
at a list of saved points, plus what produced it. Every method returns one: LP, FT and LP-FT
(:func:`lpft_theory.solve.simulate`), the variants (WiSE-FT, L2-SP, GD, frozen head) and the
batched path (:func:`lpft_theory.scale.batch.simulate_batch`: the same type with a leading batch
axis on the states, whose :meth:`Trajectory.member` is an ordinary trajectory).
:func:`lpft_theory.metrics.trajectory_metrics` computes every per-point metric for all of them.

The full features :math:`B = B_SU_S^\top + B_\perp` are rebuilt only on request (:meth:`Trajectory.B`),
see ``docs/theory.md`` §3.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from .reduced import ReducedProblem

#: What ``Trajectory.times`` holds: flow time, the WiSE-FT interpolation weight, or the GD step index.
AXES = ("time", "alpha", "step")


@dataclasses.dataclass(frozen=True)
class Trajectory:
    r"""States saved at ``times``, in reduced coordinates; optionally a batch (leading axis N).

    Attributes:
        times: (T,) saved points; ``inf`` allowed last (the limit). Their meaning is ``axis``.
        v: head, (T, k) or (N, T, k).
        B_S: S-part of the features :math:`B_S = BU_S`, (T, k, m) or (N, T, k, m).
        method: the method that produced it (``"lp"``, ``"ft"``, ``"lpft"``, ``"l2sp"``, ``"gd"``, ...).
        solver: the diffrax solver, ``"closed-form"`` or ``"gd"``.
        num_steps: accepted + rejected solver steps (0 for closed forms; GD: the step budget);
            an int, or (N,) for a batch.
        converged: for ``t = inf``, whether the steady-state criterion was met; None when the
            limit was not asked for; (N,) for a batch.
        rp: the :class:`~lpft_theory.reduced.ReducedProblem` (batched for a batch).
        initial: ``(v, B_S)`` at the start of the (FT phase of the) flow; balancedness drift and
            feature change are measured from it.
        B_full: (T, k, d) for ``coords="full"`` runs only: the integrated full B (not rebuilt).
        coords: ``"reduced"`` or ``"full"``.
        axis: what ``times`` holds, one of :data:`AXES`.
        info: method-specific facts (e.g. L2-SP's λ, GD's divergence and stability diagnostics,
            a batch's lockstep accounting ``work``).
    """

    times: np.ndarray
    v: jax.Array
    B_S: jax.Array
    method: str
    solver: str
    num_steps: Union[int, np.ndarray]
    converged: Optional[Union[bool, np.ndarray]]
    rp: ReducedProblem
    initial: tuple
    B_full: Optional[jax.Array] = None
    coords: str = "reduced"
    axis: str = "time"
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def batched(self) -> bool:
        """True when the states carry a leading batch axis."""
        return self.v.ndim == 3

    def __len__(self) -> int:
        if not self.batched:
            raise TypeError("len() of an unbatched Trajectory; use len(traj.times) for the number of saved points")
        return int(self.v.shape[0])

    def member(self, i: int) -> "Trajectory":
        """Member ``i`` of a batch as an unbatched :class:`Trajectory`."""
        if not self.batched:
            raise TypeError("member() needs a batched Trajectory")
        rp_i = jax.tree_util.tree_map(lambda a: a[i], self.rp)
        conv = None if self.converged is None else bool(np.asarray(self.converged)[i])
        info = {k: v for k, v in self.info.items() if k != "work"}
        return dataclasses.replace(
            self, v=self.v[i], B_S=self.B_S[i], num_steps=int(np.asarray(self.num_steps)[i]), converged=conv,
            rp=rp_i, initial=(self.initial[0][i], self.initial[1][i]),
            B_full=None if self.B_full is None else self.B_full[i], info=info)

    def B(self) -> jax.Array:
        r"""Full features B, shape (…, T, k, d): the integrated ones for ``coords="full"``, else rebuilt as
        :math:`B_SU_S^\top + B_\perp` (memory T·k·d per member)."""
        if self.B_full is not None:
            return self.B_full
        if self.batched:
            return jax.vmap(lambda rp, B_S: rp.lift_B(B_S))(self.rp, self.B_S)
        return self.rp.lift_B(self.B_S)

    def w(self) -> jax.Array:
        r"""Effective predictor :math:`w = B^\top v`, shape (…, T, d)."""
        return jnp.einsum("...tkd,...tk->...td", self.B(), self.v)
