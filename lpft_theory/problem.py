r"""The linear fine-tuning problem of Kumar et al. (ICLR 2022), Section 3.

A :class:`Problem` holds the data of one instance of the two-layer linear model
:math:`f(x) = v^\top B x`:

=============  ==========  =======================================================
field          shape       meaning
=============  ==========  =======================================================
``X``          (n, d)      training inputs; :math:`S = \operatorname{rowspace}(X)`
``y``          (n,)        training labels, :math:`y = X w_\star` (noiseless)
``B0``         (k, d)      pretrained feature extractor, orthonormal rows
``v0``         (k,)        initial head
``w_star``     (d,)        ground truth :math:`w_\star = B_\star^\top v_\star`
``B_star``     (k, d)      optional: true features (orthonormal rows)
``v_star``     (k,)        optional: true head
``sigma_ood``  (d, d)      optional: OOD second moment :math:`\Sigma` (None = identity)
=============  ==========  =======================================================

Construct with :meth:`Problem.random`, :meth:`Problem.from_arrays` or
:meth:`Problem.load`; all three validate their input (:func:`validate`).
The npz keys of :meth:`Problem.save` are exactly the field names.
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import geometry
from ._precision import check_x64
from .atomic import atomic_savez  # noqa: F401  (re-exported: lpft_theory.problem.atomic_savez)

#: Relative tolerance on ``||y - X w*|| / (||X||_2 ||w*|| + ||y||)`` (the theory is noiseless).
LABEL_TOL = 1e-8
#: Above this relative residual a consistent-but-inexact ``y`` gets a warning.
LABEL_WARN_TOL = 1e-12

REQUIRED = ("X", "y", "B0", "v0", "w_star")
OPTIONAL = ("B_star", "v_star", "sigma_ood")
FIELDS = REQUIRED + OPTIONAL


class RegimeWarning(UserWarning):
    """The problem lies outside the regime of the paper's theorems (0 < k <= m, m + k < d)."""


class Problem(eqx.Module):
    """One instance of the linear model; see the module docstring for the fields.

    Do not call the constructor directly with untrusted data: use
    :meth:`from_arrays`, which validates. Instances are immutable PyTrees (an
    ``equinox.Module``) and can be passed through ``jax.jit``/``jax.vmap``; a
    batch of problems of one shape is a Problem whose arrays have a leading axis.
    """

    X: jax.Array
    y: jax.Array
    B0: jax.Array
    v0: jax.Array
    w_star: jax.Array
    B_star: Optional[jax.Array] = None
    v_star: Optional[jax.Array] = None
    sigma_ood: Optional[jax.Array] = None

    # -- sizes ---------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.X.shape[-2]

    @property
    def d(self) -> int:
        return self.X.shape[-1]

    @property
    def k(self) -> int:
        return self.B0.shape[-2]

    @property
    def batch_shape(self) -> tuple:
        """Leading batch axes (``()`` for a single problem)."""
        return tuple(self.B0.shape[:-2])

    @property
    def sigma(self) -> jax.Array:
        """:math:`\\Sigma_{ood}` as a dense array (identity when ``sigma_ood`` is None)."""
        if self.sigma_ood is None:
            return jnp.broadcast_to(jnp.eye(self.d), self.batch_shape + (self.d, self.d))
        return self.sigma_ood

    def row_space(self) -> "geometry.ColumnSpace":
        r"""The factorisation of X behind :math:`S = \operatorname{rowspace}(X)`, computed once per problem.

        Returns a :class:`~lpft_theory.geometry.ColumnSpace` of :math:`X^\top`: ``basis`` :math:`U_S`
        (d × m, orthonormal columns), ``s`` the singular values of X (decreasing) and ``rank`` m
        (threshold ``max(n, d)·ε·s_max``, as ``numpy.linalg.matrix_rank``). Validation
        (:meth:`from_arrays`, :meth:`random`, :meth:`load`) computes it and :func:`~lpft_theory.reduced.reduce`
        reuses it, so X (n×d) is factorised once (a thin QR, O(n²·d) time, O(n·d) memory;
        :func:`~lpft_theory.geometry.column_space`). The result is kept while this problem's ``X`` array
        lives (only for an immutable ``jax.Array``; other arrays are factorised at each call).

        Raises:
            ValueError: on a batch of problems (use one member, e.g. ``jax.tree_util.tree_map(lambda a: a[i], p)``).
        """
        if self.batch_shape:
            raise ValueError(f"row_space: takes one problem, got a batch of shape {self.batch_shape}")
        return _row_space(self.X)

    # -- constructors --------------------------------------------------------
    @classmethod
    def from_arrays(cls, X, y, B0, v0, w_star, B_star=None, v_star=None, sigma_ood=None, *,
                    allow_label_noise: bool = False) -> "Problem":
        """Validate the arrays (see :func:`validate`) and build a Problem of float64 jax arrays.

        A leading batch axis on every array gives a batch of problems; each member
        is validated.
        """
        check_x64()
        arrays = dict(X=X, y=y, B0=B0, v0=v0, w_star=w_star, B_star=B_star, v_star=v_star, sigma_ood=sigma_ood)
        return cls._checked(arrays, allow_label_noise, copy=True)

    @classmethod
    def _checked(cls, arrays: dict, allow_label_noise: bool, copy: bool, host: bool = False,
                 rank: Optional[int] = None) -> "Problem":
        """:meth:`from_arrays` on a dict of the fields; ``copy=False`` only for arrays nobody else holds.

        The float64 copy (``copy=True``) keeps the Problem apart from the caller's arrays: on CPU
        ``jnp.asarray`` shares a numpy array's memory instead of copying it. ``host=True`` keeps the
        validated fields as numpy float64 arrays (no device transfer; the factorisation is then not
        remembered): only for a campaign worker, whose problems never leave it as Problems. ``rank``: the
        rank X must have (an internal check of a sampled X, from validation's factorisation; RuntimeError).
        """
        for name in REQUIRED:
            if arrays[name] is None:
                raise TypeError(f"{name} is required (an array of shape {_SHAPES[name]}), got None")
        low = {k: np.asarray(v).dtype for k, v in arrays.items() if v is not None and _low_precision(v)}
        arrays = {k: (None if v is None else _as_float_array(k, v, copy=copy)) for k, v in arrays.items()}
        batch = _batch_shape(arrays)
        spaces = []
        for idx in np.ndindex(*batch):
            member = {k: (None if v is None else v[idx]) for k, v in arrays.items()}
            where = f" (batch member {idx})" if batch else ""
            try:
                spaces.append(_validate(**member, allow_label_noise=allow_label_noise)[1])
            except ValueError as e:
                raise ValueError(f"{e}{where}{_precision_hint(str(e), low)}") from None
        if rank is not None and any(sp.rank != rank for sp in spaces):
            raise RuntimeError(f"internal: sampled X does not have rank m={rank}; try another seed")
        if host:
            return cls(**arrays)
        problem = cls(**{k: (None if v is None else jnp.asarray(v)) for k, v in arrays.items()})
        _remember(problem.X, list(spaces) if batch else spaces[0])
        return problem

    @classmethod
    def random(cls, seed: int, d: int, k: int, m: int, n: Optional[int] = None, eps: float = 0.1, *,
               head="random", head_scale: float = 1.0, w_star_norm: float = 1.0,
               input_cond: float = 1.0, id_overlap: Optional[float] = None,
               sigma_ood=None, sigma_cond: float = 10.0,
               label_noise: float = 0.0, noise_seed: Optional[int] = None) -> "Problem":
        r"""A random problem with features exactly ``eps``-good.

        Construction (all from ``numpy.random.default_rng(seed)``):

        * :math:`B_\star`: random orthonormal rows.
        * :math:`B_0 = R(\cos\Theta\,B_\star + \sin\Theta\,Q)` with Q orthonormal rows
          orthogonal to :math:`B_\star`, R a random orthogonal k×k matrix and principal
          angles :math:`\Theta` whose largest is :math:`\theta = 2\arcsin(\varepsilon/2)`
          (the others uniform in :math:`[0,\theta]`), so :math:`d(B_0,B_\star) = \varepsilon`
          exactly (checked).  Requires :math:`0 \le \varepsilon \le \sqrt2`.
        * S: a random m-dimensional subspace, or with ``id_overlap=γ`` one whose principal
          angles to :math:`R_0 = \operatorname{rowspace}(B_0)` all have :math:`\cos^2 = γ`.
        * X = Z U_S^T with Z (n×m) Gaussian with covariance eigenvalues log-spaced from 1
          to 1/``input_cond``; rank(X) = m is checked.
        * :math:`v_\star` a random direction of norm ``w_star_norm`` (= ‖w*‖), y = X w*.
        * ``head``: ``"random"`` (N(0, head_scale² I)), ``"zero"``, or an array of shape (k,).
        * ``sigma_ood``: None / ``"identity"``, ``"anisotropic"`` (random eigenbasis,
          eigenvalues log-spaced from 1 to ``sigma_cond``), or a (d, d) array.

        ``n`` defaults to ``2 m``.

        ``label_noise=σ > 0`` (beyond the paper; see :mod:`lpft_theory.variants.noise`) returns
        :math:`y = Xw_\star + σξ`, ξ ~ N(0, I_n) drawn from its own generator
        ``default_rng(noise_seed)`` (``noise_seed`` defaults to ``seed``), so every other
        field is identical to the noiseless problem and σ = 0 changes nothing.
        """
        arrays, noisy = _random_arrays(seed, d, k, m, n, eps, head=head, head_scale=head_scale,
                                       w_star_norm=w_star_norm, input_cond=input_cond, id_overlap=id_overlap,
                                       sigma_ood=sigma_ood, sigma_cond=sigma_cond, label_noise=label_noise,
                                       noise_seed=noise_seed)
        return cls._from_random(arrays, noisy, m)

    @classmethod
    def _from_random(cls, arrays: dict, noisy: bool, m: int, host: bool = False) -> "Problem":
        """Validate the fresh arrays of :func:`_random_arrays` (possibly edited: the campaign aligns
        (B*, v*) and sets v₀ first) into a Problem, checking rank(X) = m from validation's factorisation."""
        return cls._checked(arrays, noisy, copy=False, host=host, rank=m)  # fresh arrays: no copy

    # -- I/O -----------------------------------------------------------------
    def save(self, path) -> None:
        """Write an ``.npz`` whose keys are exactly the field names (None fields omitted).

        Written to a temporary file in the same folder and renamed, so a failure
        never leaves a half-written file.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            raise IsADirectoryError(f"Problem.save: {path!r} is an existing folder; give a file name, e.g. "
                                    f"{os.path.join(path, 'problem.npz')!r}")
        arrays = {f: np.asarray(getattr(self, f)) for f in FIELDS if getattr(self, f) is not None}
        atomic_savez(path, **arrays)

    @classmethod
    def load(cls, path, **kwargs) -> "Problem":
        """Read an ``.npz`` written by :meth:`save` (or by hand) and validate it."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise ValueError(f"problem: file {path!r} does not exist")
        if os.path.isdir(path):
            raise ValueError(f"problem: {path!r} is a folder, not an .npz file")
        _check_npz_signature(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = set(data.files)
                arrays = {k: data[k] for k in keys}
        except Exception as e:  # noqa: BLE001 - any unreadable file is a user error
            raise ValueError(f"problem: cannot read {path!r} as .npz ({e})") from None
        missing = [k for k in REQUIRED if k not in keys]
        if missing:
            raise ValueError(f"problem: {path!r} is missing required key(s) {missing}; expected {list(REQUIRED)}")
        unknown = sorted(keys - set(FIELDS))
        if unknown:
            raise ValueError(f"problem: {path!r} has unknown key(s) {unknown}; allowed: {list(FIELDS)}")
        return cls.from_arrays(**arrays, **kwargs)


# ---------------------------------------------------------------------------
# validation


def validate(X, y, B0, v0, w_star, B_star=None, v_star=None, sigma_ood=None, *, allow_label_noise=False) -> dict:
    """Check one (unbatched) problem; raise ``ValueError``/``TypeError`` naming the field.

    Checks: shapes; finiteness; orthonormal rows of ``B0`` and ``B_star``
    (``max|BB^T - I| <= 1e-8``); ``k <= d``; ``n >= 1``; rank(X) >= 1;
    ``w_star = B_star^T v_star`` when both are given; ``sigma_ood`` symmetric
    positive definite; ``y = X w_star`` to relative tolerance :data:`LABEL_TOL`.
    Warns (:class:`RegimeWarning`) outside the theorems' regime.

    Returns a dict with ``m`` (rank of X) and ``label_residual``.

    X is factorised once (:func:`~lpft_theory.geometry.column_space` of :math:`X^\top`: a thin QR,
    O(n²·d)); its singular values give both rank(X) and the spectral norm of X.
    """
    return _validate(X, y, B0, v0, w_star, B_star, v_star, sigma_ood, allow_label_noise=allow_label_noise)[0]


def _validate(X, y, B0, v0, w_star, B_star=None, v_star=None, sigma_ood=None, *, allow_label_noise=False):
    """:func:`validate`, also returning the :class:`~lpft_theory.geometry.ColumnSpace` of Xᵀ it computed."""
    arrays = dict(X=X, y=y, B0=B0, v0=v0, w_star=w_star, B_star=B_star, v_star=v_star, sigma_ood=sigma_ood)
    arrays = {k: (None if v is None else _as_float_array(k, v, copy=False)) for k, v in arrays.items()}
    X, y, B0, v0, w_star = (arrays[k] for k in REQUIRED)
    B_star, v_star, sigma_ood = (arrays[k] for k in OPTIONAL)

    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n, d), got shape {X.shape}")
    n, d = X.shape
    if B0.ndim != 2 or B0.shape[1] != d:
        raise ValueError(f"B0 must have shape (k, d) with d={d} (from X), got {B0.shape}")
    k = B0.shape[0]
    expected = dict(y=(n,), v0=(k,), w_star=(d,), B_star=(k, d), v_star=(k,), sigma_ood=(d, d))
    for name, shape in expected.items():
        a = arrays[name]
        if a is not None and a.shape != shape:
            raise ValueError(f"{name} must have shape {shape} (n={n}, d={d}, k={k}), got {a.shape}")
    for name, a in arrays.items():
        if a is not None and not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
    _check_sizes(d=d, k=k, n=n)

    err = geometry.orthonormal_rows_error(B0)
    if err > geometry.ORTHONORMAL_TOL:
        raise ValueError(f"B0 must have orthonormal rows (max|B0 B0^T - I| <= {geometry.ORTHONORMAL_TOL:g}), got {err:.3g}")
    if B_star is not None:
        err = geometry.orthonormal_rows_error(B_star)
        if err > geometry.ORTHONORMAL_TOL:
            raise ValueError(f"B_star must have orthonormal rows (max|B* B*^T - I| <= {geometry.ORTHONORMAL_TOL:g}), got {err:.3g}")
    if B_star is not None and v_star is not None:
        gap = np.linalg.norm(B_star.T @ v_star - w_star)
        if gap > 1e-10 * max(1.0, np.linalg.norm(w_star)):
            raise ValueError(f"w_star must equal B_star^T v_star, off by {gap:.3g}")
    if sigma_ood is not None:
        if np.max(np.abs(sigma_ood - sigma_ood.T)) > 1e-10 * max(1.0, np.max(np.abs(sigma_ood))):
            raise ValueError("sigma_ood must be symmetric")
        lam_min = np.linalg.eigvalsh(sigma_ood)[0]
        if not lam_min > 0:
            raise ValueError(f"sigma_ood must be positive definite, smallest eigenvalue is {lam_min:.3g}")

    space = geometry.column_space(X.T)  # rank(X) and ||X||_2 from one factorisation; reduce() reuses the basis
    m = space.rank
    if m < 1:
        raise ValueError("X has rank 0: the ID subspace S is empty, nothing can be fine-tuned")
    scale = space.s[0] * np.linalg.norm(w_star) + np.linalg.norm(y)
    resid = float(np.linalg.norm(y - X @ w_star) / scale) if scale > 0 else 0.0
    if not allow_label_noise:
        if resid > LABEL_TOL:
            raise ValueError(
                f"y must equal X @ w_star (the theory is noiseless): relative residual {resid:.3g} > {LABEL_TOL:g}"
            )
        if resid > LABEL_WARN_TOL:
            warnings.warn(f"y differs from X @ w_star by relative residual {resid:.3g}", stacklevel=3)
    check_regime(d=d, k=k, m=m)
    return dict(n=n, d=d, k=k, m=m, label_residual=resid), space


# ---------------------------------------------------------------------------
# the one factorisation of X, kept while the problem's X array lives

_SPACES: dict = {}  # id(X) -> (weakref to X, ColumnSpace, or a list of them for a batch)
_SPACES_LOCK = threading.Lock()
_TRACER = getattr(jax.core, "Tracer", ())


def _remember(X, space) -> None:
    """Keep ``space`` (the factorisation of X validation made) for as long as the jax array ``X`` lives."""
    if not isinstance(X, jax.Array) or isinstance(X, _TRACER):
        return
    key = id(X)

    def forget(ref, key=key):
        with _SPACES_LOCK:
            if _SPACES.get(key, (None,))[0] is ref:
                del _SPACES[key]

    with _SPACES_LOCK:
        _SPACES[key] = (weakref.ref(X, forget), space)


def _remembered(X):
    with _SPACES_LOCK:
        entry = _SPACES.get(id(X))
    return entry[1] if entry is not None and entry[0]() is X else None


def _row_space(X):
    """The :class:`~lpft_theory.geometry.ColumnSpace` of Xᵀ (one problem): remembered, else computed (and kept)."""
    space = _remembered(X)
    if isinstance(space, geometry.ColumnSpace):
        return space
    space = geometry.column_space(np.asarray(X, dtype=np.float64).T)
    _remember(X, space)
    return space


def _member_row_spaces(X):
    """The remembered factorisations of the members of a batched X (a list in ``np.ndindex`` order), or None."""
    spaces = _remembered(X)
    return spaces if isinstance(spaces, list) else None


def check_regime(d: int, k: int, m: int) -> bool:
    """Warn (:class:`RegimeWarning`) and return False outside 0 < k <= m, m + k < d [final]."""
    ok = 0 < k <= m and m + k < d
    if not ok:
        warnings.warn(
            f"outside the theorems' regime 0 < k <= m and m + k < d (got d={d}, k={k}, m={m}); "
            "the flows are still simulated but the bounds may not apply",
            RegimeWarning,
            stacklevel=3,
        )
    return ok


def _check_sizes(d: int, k: int, n: int, m: Optional[int] = None) -> None:
    for name, val in (("d", d), ("k", k)):
        if val < 1:
            raise ValueError(f"{name} must be >= 1, got {val}")
    if m is not None and (m < 1 or m > d):
        raise ValueError(f"m must satisfy 1 <= m <= d (dimension of S in R^d), got m={m}, d={d}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if k > d:
        raise ValueError(f"k must be <= d (k features in R^d), got k={k}, d={d}")
    if m is not None:
        if m > n:
            raise ValueError(f"m must be <= n (n training points span at most n dimensions), got m={m}, n={n}")


_SHAPES = dict(X="(n, d)", y="(n,)", B0="(k, d)", v0="(k,)", w_star="(d,)")


def _low_precision(value) -> bool:
    dt = getattr(value, "dtype", None)
    try:
        return dt is not None and np.issubdtype(dt, np.floating) and np.dtype(dt).itemsize < 8
    except TypeError:
        return False


def _precision_hint(message: str, low: dict) -> str:
    """For a check failed by a field stored in float32/float16: say so and how to fix it."""
    if not low or not any(w in message for w in ("orthonormal", "must equal", "symmetric")):
        return ""  # not a tolerance check
    name = message.split(" ", 1)[0]
    if name not in low:
        name = next(iter(low))
    eps = float(np.finfo(low[name]).eps)
    fix = (f"save it in float64, or re-orthonormalise it in float64 (U, _, Vt = np.linalg.svd({name}.astype("
           f"np.float64), full_matrices=False); {name} = U @ Vt)" if name in ("B0", "B_star") else
           "save the arrays in float64")
    return f"; {name} is stored as {low[name]}, whose rounding alone is about {eps:.1g}: {fix}"


def _check_npz_signature(path: str) -> None:
    """An .npz file is a zip archive: name what the file is when it is not."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise ValueError(f"problem: cannot read {path!r} ({e.strerror or e})") from None
    if head.startswith(b"PK"):
        return
    if head.startswith(b"\x93NUMPY"):
        raise ValueError(f"problem: cannot read {path!r} as .npz: it is a single .npy array, not an archive of "
                         f"the named arrays {list(REQUIRED)}; write it with Problem.save or numpy.savez")
    if not head:
        raise ValueError(f"problem: cannot read {path!r} as .npz: the file is empty")
    kind = "a text file" if all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "another binary format"
    raise ValueError(f"problem: cannot read {path!r} as .npz: it is {kind}, not a zip archive of the named arrays "
                     f"{list(REQUIRED)}; write it with Problem.save or numpy.savez")


def _as_size(name: str, value) -> int:
    """A size argument: an integer (``12.0`` is accepted, ``12.7`` and ``True`` are not)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    raise TypeError(f"{name} must be an integer, got {value!r}")


def _check_seed(seed, name: str = "seed"):
    """An integer seed must be >= 0 (numpy's rule), named in the error; other seeds go to numpy as they are."""
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= 0, got {seed!r}")
    if isinstance(seed, (int, np.integer)):
        if seed < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {seed}")
        return int(seed)
    if isinstance(seed, (float, np.floating)):
        raise TypeError(f"{name} must be an integer >= 0, got {seed!r}")
    return seed


def _as_float_array(name: str, value, copy: bool = True) -> np.ndarray:
    try:
        a = np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__} ({e})") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64, copy=copy)


def _batch_shape(arrays: dict) -> tuple:
    ndims = dict(X=2, y=1, B0=2, v0=1, w_star=1, B_star=2, v_star=1, sigma_ood=2)
    X = arrays["X"]
    if X.ndim < 2:
        raise ValueError(f"X must be a 2-D array (n, d), got shape {X.shape}")
    batch = X.shape[:-2]
    for name, a in arrays.items():
        if a is None:
            continue
        if a.ndim != len(batch) + ndims[name] or a.shape[: len(batch)] != batch:
            raise ValueError(
                f"{name} must have {ndims[name]} dimension(s) after the batch axes {batch} (from X), got shape {a.shape}"
            )
    return batch


def _random_arrays(seed, d, k, m, n=None, eps=0.1, *, head="random", head_scale=1.0, w_star_norm=1.0,
                   input_cond=1.0, id_overlap=None, sigma_ood=None, sigma_cond=10.0, label_noise=0.0,
                   noise_seed=None):
    """The arrays of :meth:`Problem.random` (numpy float64, not yet validated) and whether the labels
    carry noise. Raises ValueError on bad arguments (the messages of
    :meth:`Problem.random`)."""
    check_x64()
    seed = _check_seed(seed)
    rng = np.random.default_rng(seed)
    d, k, m = _as_size("d", d), _as_size("k", k), _as_size("m", m)
    n = 2 * m if n is None else _as_size("n", n)
    if noise_seed is not None:
        noise_seed = _check_seed(noise_seed, "noise_seed")
    _check_sizes(d=d, k=k, m=m, n=n)
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0 or eps > np.sqrt(2.0):
        raise ValueError(f"eps must lie in [0, sqrt(2)] (d(B0,B*) = 2 sin(theta/2) with theta <= pi/2), got {eps}")
    if eps > 0 and d < 2 * k:
        raise ValueError(f"eps > 0 needs d >= 2k to tilt B0 away from B*; got d={d}, k={k}")
    if not (np.isfinite(w_star_norm) and w_star_norm > 0):
        raise ValueError(f"w_star_norm must be positive and finite, got {w_star_norm}")
    if not (np.isfinite(input_cond) and input_cond >= 1):
        raise ValueError(f"input_cond must be >= 1, got {input_cond}")

    B_star = np.linalg.qr(rng.standard_normal((d, k)))[0].T
    theta_max = 2.0 * np.arcsin(eps / 2.0)
    thetas = np.concatenate([[theta_max], rng.uniform(0.0, theta_max, size=k - 1)])
    Q = geometry.orthonormal_complement(B_star.T, rng=rng, size=k).T if eps > 0 else np.zeros((k, d))
    R = np.linalg.qr(rng.standard_normal((k, k)))[0]
    B0 = R @ (np.cos(thetas)[:, None] * B_star + np.sin(thetas)[:, None] * Q)
    # in numpy float64 (independent of jax_enable_x64): d = 2 sin(theta_max / 2)
    c = np.clip(np.linalg.svd(B0 @ B_star.T, compute_uv=False)[-1], -1.0, 1.0)
    s_max = geometry.spectral_norm_wide(B0 - (B0 @ B_star.T) @ B_star)
    got = float(2.0 * np.sin(np.arctan2(s_max, c) / 2.0))
    if abs(got - eps) > 1e-12 * max(1.0, eps):
        raise RuntimeError(f"internal: constructed d(B0,B*)={got!r} != eps={eps!r}")

    U_S = _random_subspace(rng, B0, d, k, m, id_overlap)
    scales = np.geomspace(1.0, 1.0 / np.sqrt(input_cond), m) if m > 1 else np.ones(1)
    Z = rng.standard_normal((n, m)) * scales
    X = Z @ U_S.T
    del U_S, Q  # d-sized temporaries (peak memory)

    g = rng.standard_normal(k)
    v_star = w_star_norm * g / np.linalg.norm(g)
    w_star = B_star.T @ v_star
    y = X @ w_star
    v0 = _head(head, k, head_scale, rng)
    sigma = _sigma(sigma_ood, d, sigma_cond, rng)
    label_noise = float(label_noise)
    if not (np.isfinite(label_noise) and label_noise >= 0):
        raise ValueError(f"label_noise must be a finite number >= 0, got {label_noise}")
    if label_noise > 0:
        noise_rng = np.random.default_rng(seed if noise_seed is None else noise_seed)
        y = y + label_noise * noise_rng.standard_normal(n)
    return dict(X=X, y=y, B0=B0, v0=v0, w_star=w_star, B_star=B_star, v_star=v_star, sigma_ood=sigma), label_noise > 0


def _random_subspace(rng, B0, d, k, m, id_overlap):
    if id_overlap is None:
        return np.linalg.qr(rng.standard_normal((d, m)))[0]
    g = float(id_overlap)
    if not 0.0 <= g <= 1.0:
        raise ValueError(f"id_overlap must lie in [0, 1] (cos^2 of the angles between R0 and S), got {g}")
    if m < k or d < m + k:
        raise ValueError(f"id_overlap needs k <= m and m + k <= d, got d={d}, k={k}, m={m}")
    rest = geometry.orthonormal_complement(B0.T, rng=rng, size=m)  # d x m, orthogonal to R0
    tilt = np.sqrt(g) * B0.T + np.sqrt(1.0 - g) * rest[:, :k]
    return np.concatenate([tilt, rest[:, k:]], axis=1)


def _head(head, k, scale, rng):
    if isinstance(head, str):
        if head == "random":
            if not (np.isfinite(scale) and scale >= 0):
                raise ValueError(f"head_scale must be >= 0, got {scale}")
            return scale * rng.standard_normal(k)
        if head == "zero":
            return np.zeros(k)
        raise ValueError(f"head must be 'random', 'zero' or an array of shape ({k},), got {head!r}")
    v0 = _as_float_array("head", head)
    if v0.shape != (k,):
        raise ValueError(f"head must have shape ({k},), got {v0.shape}")
    return v0


def _sigma(spec, d, cond, rng):
    if spec is None or (isinstance(spec, str) and spec == "identity"):
        return None
    if isinstance(spec, str):
        if spec == "anisotropic":
            if not (np.isfinite(cond) and cond >= 1):
                raise ValueError(f"sigma_cond must be >= 1, got {cond}")
            V = np.linalg.qr(rng.standard_normal((d, d)))[0]
            lam = np.geomspace(1.0, cond, d)
            S = (V * lam) @ V.T
            return 0.5 * (S + S.T)
        raise ValueError(f"sigma_ood must be None, 'identity', 'anisotropic' or a (d, d) array, got {spec!r}")
    return _as_float_array("sigma_ood", spec)


class regime_warnings_silenced(warnings.catch_warnings):  # noqa: N801 - used like contextlib.suppress
    """Context manager that ignores :class:`RegimeWarning` inside its block (other warnings still show).

    For callers that build problems outside the theorems' regime on purpose (the 2-D toy, the figure and
    claim sweeps)::

        with regime_warnings_silenced():
            p = Problem.random(seed=0, d=2, k=1, m=1)

    The warning filters are restored on exit (it is a :class:`warnings.catch_warnings`).
    """

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("ignore", RegimeWarning)
        return out
