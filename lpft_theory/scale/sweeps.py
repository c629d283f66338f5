r"""Sweeps: a grid of :meth:`Problem.random` settings × seeds, run in memory-sized chunks.

Every (setting, seed) pair is one trajectory: ``Problem.random(seed=seed, **base,
**setting)`` is built, reduced, and simulated with :func:`lpft_theory.scale.batch.simulate_batch`.
Pairs are grouped by shape (d, k, m, n) — only equal shapes can share a vmap — and each
shape class is cut into chunks whose estimated host memory (:func:`member_bytes`) fits
``memory_bytes``. Within a chunk the members are sorted by stiffness and solved in
groups of ``group_size`` (lockstep waste, see :mod:`lpft_theory.scale.batch`). A tqdm bar
counts trajectories.

The result is one tidy table (:class:`SweepTable`): one row per trajectory and saved
time, with the setting, the seed, the solver's step count and every per-state metric of
:func:`lpft_theory.metrics.trajectory_metrics`. It saves to ``.npz`` (one array per column) or
``.csv``. The same grid and seeds give the same table: every random choice is made by
:meth:`Problem.random` from its seed, independently of chunking and grouping.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
from typing import Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..metrics import trajectory_metrics
from .batch import default_group_size, simulate_batch
from ..atomic import atomic_savez, write_text
from ..problem import Problem
from ..reduced import DEFAULT_N_OOD, reduce
from ..integrate import DEFAULT_ATOL, DEFAULT_GTOL, DEFAULT_RTOL
from ..solve import check_method, check_times

#: Default host-memory budget of one chunk.
DEFAULT_MEMORY_BYTES = 1 << 30
#: Keys of :meth:`Problem.random` a sweep may set.
RANDOM_KEYS = ("d", "k", "m", "n", "eps", "head", "head_scale", "w_star_norm", "input_cond", "id_overlap",
               "sigma_ood", "sigma_cond")


@dataclasses.dataclass(frozen=True)
class SweepTable:
    """Column-oriented tidy table: ``columns[name]`` is a 1-D numpy array, all of one length."""

    columns: dict

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def names(self) -> list:
        return list(self.columns)

    def save(self, path) -> None:
        """Write ``.npz`` (one array per column) or ``.csv`` (header + rows), atomically."""
        path = os.fspath(path)
        if path.endswith(".npz"):
            atomic_savez(path, **self.columns)
        elif path.endswith(".csv"):
            write_text(path, self.to_csv())
        else:
            raise ValueError(f"path must end in .npz or .csv, got {path!r}")

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.names)
        cols = [self.columns[n] for n in self.names]
        for row in zip(*cols):
            w.writerow([_fmt(x) for x in row])
        return buf.getvalue()

    @classmethod
    def load(cls, path) -> "SweepTable":
        with np.load(os.fspath(path), allow_pickle=False) as data:
            return cls({k: data[k] for k in data.files})


def _fmt(x):
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    return str(x)



def grid_settings(grid: Mapping[str, Sequence], base: Optional[Mapping] = None) -> list:
    """The cartesian product of ``grid`` (in its key order), each merged over ``base``."""
    base = dict(base or {})
    for key in list(grid) + list(base):
        if key not in RANDOM_KEYS:
            raise ValueError(f"grid/base: unknown key {key!r}; allowed: {', '.join(RANDOM_KEYS)}")
    overlap = set(grid) & set(base)
    if overlap:
        raise ValueError(f"grid/base: key(s) {sorted(overlap)} given in both")
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or len(values) == 0:
            raise ValueError(f"grid[{key!r}] must be a non-empty list of values, got {values!r}")
    keys = list(grid)
    out = []
    for combo in itertools.product(*(list(grid[k]) for k in keys)):
        s = dict(base)
        s.update(zip(keys, combo))
        missing = [k for k in ("d", "k", "m") if k not in s]
        if missing:
            raise ValueError(f"grid/base: missing required key(s) {missing}")
        out.append(s)
    return out


def member_bytes(d: int, k: int, m: int, n: int, n_times: int, n_ood: int = DEFAULT_N_OOD) -> int:
    """Estimated host bytes per member while a chunk is alive (float64).

    Reduced problem (lift basis d·(m+2k+1), Z n·m, OOD draws n_ood·m, Σ blocks, …), the
    saved states n_times·k·(m+1) and their metrics, plus one full problem (n·d + 2k·d)
    being built at a time (counted per member to stay on the safe side).
    """
    r = m + 2 * k + 1
    reduced = d * r + n * m + n_ood * m + r * r + m * m + 3 * k * r + 2 * m + k + 8
    states = 2 * n_times * k * (m + 1) + 16 * n_times
    build = n * d + 2 * k * d + 2 * d
    return 8 * (reduced + states + build)


def run_sweep(
    grid: Mapping[str, Sequence],
    seeds: Sequence[int],
    method: str = "ft",
    times: Sequence[float] = (0.0, 1.0),
    *,
    base: Optional[Mapping] = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    gtol: float = DEFAULT_GTOL,
    solver: str = "tsit5",
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    chunk_size: Optional[int] = None,
    group_size="auto",
    mesh=None,
    progress: bool = True,
    method_options: Optional[Mapping] = None,
) -> SweepTable:
    """Run every ``grid`` setting for every seed; return the tidy :class:`SweepTable`.

    Parameters
    ----------
    grid
        ``{key: [values]}`` over :meth:`Problem.random` keywords (e.g. ``{"eps": [0.05, 0.2]}``).
    seeds
        The seeds; trajectory ``j`` is (setting ``j // len(seeds)``, seed ``seeds[j % len(seeds)]``).
    method, times, rtol, atol, gtol, solver
        As in :func:`lpft_theory.solve.simulate`.
    base
        Fixed keywords (e.g. ``dict(d=100, k=4, m=20)``).
    memory_bytes
        Host-memory budget per chunk (see :func:`member_bytes`).
    chunk_size
        Cap on members per chunk (default: only the memory budget limits it).
    group_size
        Members solved in one vmap inside a chunk (sorted by stiffness); ``"auto"`` =
        :func:`lpft_theory.scale.batch.default_group_size`.
    mesh
        Passed to :func:`~lpft_theory.scale.batch.simulate_batch` (``"all"`` = every device).
    progress
        Show a tqdm bar.
    method_options
        For the beyond-the-paper methods (``"wise-ft"``, ``"l2sp"``, ``"gd"``, ``"ft-frozen-head"``), the
        keyword options of :func:`lpft_theory.variants.dispatch.simulate_variant` (e.g. ``dict(lam=10.0)`` or
        ``dict(lr_v=0.01, lr_B=0.001, steps=500, save_every=100)``). These methods run one trajectory at a
        time (no vmap); the ``t`` column then holds their axis (flow time, WiSE-FT α, or GD step) and
        ``num_steps``/``converged`` are −1.

    Returns
    -------
    SweepTable
        One row per trajectory and time, with the columns ``traj``, ``seed``, the grid keys, ``t``,
        ``num_steps`` (per trajectory), ``converged`` (1/0, −1 without ``inf``) and the metrics of
        :func:`~lpft_theory.metrics.trajectory_metrics` (without ``perp_drift``, which in reduced coordinates
        only shows rounding).
    """
    from tqdm.auto import tqdm

    from ..variants.dispatch import BEYOND_METHODS

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct")
    if method in BEYOND_METHODS:
        settings = grid_settings(grid, base)
        jobs = [(i, s) for i in range(len(settings)) for s in seeds]
        return _run_variant_sweep(jobs, settings, seeds, grid, method, times, dict(method_options or {}), progress)
    if method_options:
        raise ValueError(f"method_options are only for {BEYOND_METHODS}, not {method!r}")
    check_method(method)
    t = check_times(times)
    settings = grid_settings(grid, base)
    jobs = [(i, s) for i in range(len(settings)) for s in seeds]
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if group_size == "auto":
        group_size = default_group_size(solver)
    if isinstance(group_size, str) or int(group_size) < 1:
        raise ValueError(f"group_size must be >= 1 or 'auto', got {group_size!r}")

    def shape_of(setting):
        m = int(setting["m"])
        return int(setting["d"]), int(setting["k"]), m, int(setting.get("n") or 2 * m)

    classes: dict = {}
    for j, (i, s) in enumerate(jobs):
        classes.setdefault(shape_of(settings[i]), []).append(j)

    results: dict = {}
    bar = tqdm(total=len(jobs), desc=f"sweep {method}", unit="traj", disable=not progress)
    try:
        for shape, members in classes.items():
            per = member_bytes(*shape, n_times=t.size)
            size = max(1, int(memory_bytes) // per)
            if chunk_size is not None:
                size = min(size, int(chunk_size))
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                rps = []
                for j in chunk:
                    i, s = jobs[j]
                    rps.append(reduce(Problem.random(seed=s, **settings[i])))
                rp = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *rps)
                del rps
                bt = simulate_batch(rp, method, t, rtol=rtol, atol=atol, gtol=gtol, solver=solver,
                                    group_size=min(int(group_size), len(chunk)), mesh=mesh)
                mets = trajectory_metrics(bt, perp=False)
                for local, j in enumerate(chunk):
                    results[j] = dict(num_steps=int(bt.num_steps[local]),
                                      converged=-1 if bt.converged is None else int(bt.converged[local]),
                                      metrics={k: v[local] for k, v in mets.items()})
                bar.update(len(chunk))
    finally:
        bar.close()
    return _tidy(jobs, settings, seeds, grid, t, results)


def _run_variant_sweep(jobs, settings, seeds, grid, method, times, options, progress) -> SweepTable:
    """One :func:`~lpft_theory.variants.dispatch.simulate_variant` call per job (beyond-the-paper methods)."""
    from tqdm.auto import tqdm

    from ..metrics import trajectory_metrics
    from ..variants.dispatch import simulate_variant

    results: dict = {}
    axis = None
    for j, (i, s) in enumerate(tqdm(jobs, desc=f"sweep {method}", unit="traj", disable=not progress)):
        run = simulate_variant(Problem.random(seed=s, **settings[i]), method, times, **options)
        met = trajectory_metrics(run)
        met.pop("perp_drift")  # in reduced coordinates it only shows rounding
        this_axis = np.asarray(run.times, dtype=np.float64)
        if axis is None:
            axis = this_axis
        elif this_axis.shape != axis.shape or not np.array_equal(this_axis, axis):
            raise ValueError(f"{method}: runs saved at different points ({axis} vs {this_axis}); fix the save grid")
        results[j] = dict(num_steps=-1, converged=-1, metrics=met)
    return _tidy(jobs, settings, seeds, grid, axis, results)


def _tidy(jobs, settings, seeds, grid, t, results) -> SweepTable:
    T = t.size
    n = len(jobs)
    cols: dict = {"traj": np.repeat(np.arange(n), T), "seed": np.repeat([s for _, s in jobs], T)}
    for key in grid:
        vals = [settings[i][key] for i, _ in jobs]
        arr = np.asarray(vals)
        if arr.dtype == object:
            arr = np.asarray([str(v) for v in vals])
        cols[key] = np.repeat(arr, T)
    cols["t"] = np.tile(t, n)
    cols["num_steps"] = np.repeat([results[j]["num_steps"] for j in range(n)], T)
    cols["converged"] = np.repeat([results[j]["converged"] for j in range(n)], T)
    names = list(results[0]["metrics"]) if n else []
    for name in names:
        cols[name] = np.concatenate([results[j]["metrics"][name] for j in range(n)])
    return SweepTable(cols)
