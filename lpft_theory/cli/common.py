"""Shared by the subcommands: the one problem loader (with the one label rule), the parsers of
``--times`` and ``--random``, the checks of output locations (run before any work) and one-line
warnings.

Nothing heavy is imported at module level (:mod:`lpft_theory.cli.main` imports this before JAX).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile


class UsageError(Exception):
    """A bad command line that argparse itself cannot detect."""


#: Keys accepted by ``--random`` and their types (passed to :meth:`Problem.random`).
RANDOM_KEYS = dict(d=int, k=int, m=int, n=int, eps=float, seed=int, head=str, head_scale=float,
                   w_star_norm=float, input_cond=float, id_overlap=float, sigma_ood=str, sigma_cond=float)

#: The label rule, stated in ``simulate --help`` and enforced by :func:`load_problem` (one place).
LABEL_RULE = ("Labels: for every method the problem's labels must be noiseless, y = X w* to relative residual "
              "<= {tol:g} (||y - X w*|| / (||X||_2 ||w*|| + ||y||); the tolerance of Problem.load). The only "
              "noisy labels are those asked for with --label-noise SIGMA on a --random problem.")

#: Largest accepted ``--max-steps`` (diffrax counts steps in int32).
MAX_MAX_STEPS = 2**31 - 1

TIMES_HELP = ("save times: a comma list 0,0.1,1,inf; logspace:START,STOP,N (N log-spaced times, START > 0); "
              "linspace:START,STOP,N; @FILE.txt (numbers separated by spaces, commas or newlines; # comments) "
              "or @FILE.npy (a 1-D array); join pieces with ';', e.g. '0;logspace:1e-3,1e3,200;inf'. "
              "Non-negative, strictly increasing, inf only last")


# ---------------------------------------------------------------------------
# one-line warnings


def warn(message: str) -> None:
    """Print ``lpft-theory: warning: MESSAGE`` as one line on stderr."""
    print(f"lpft-theory: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# argparse types


def int_arg(minimum: int = 1, maximum: int | None = None):
    """An argparse ``type=`` for integers in ``[minimum, maximum]``; ``1e6`` is accepted when it is an integer."""

    def parse(text: str) -> int:
        value = None
        try:
            value = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                f = math.nan
            if math.isfinite(f) and f == int(f):
                value = int(f)
        if value is None:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
        if value < minimum or (maximum is not None and value > maximum):
            big = maximum is not None and maximum >= 10**6 and str(maximum).rstrip("0") == "1"
            hi = "" if maximum is None else f" and <= {maximum:.0e}" if big else f" and <= {maximum}"
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}{hi}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def float_arg(text: str) -> float:
    """An argparse ``type=`` for a finite number (nan/inf refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float_arg(text: str) -> float:
    """An argparse ``type=`` for a finite number > 0 (tolerances)."""
    value = float_arg(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def nonnegative_or_inf_arg(text: str) -> float:
    """An argparse ``type=`` for a number >= 0 where ``inf`` is allowed (``--gamma``: no constraint)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or inf, got {text!r}") from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 or inf, got {text!r}")
    return value


#: Solvers of ``--solver``: the diffrax solvers of :mod:`lpft_theory.integrate` and its fused Tsit5 loop.
SOLVER_CHOICES = ("tsit5", "dopri5", "dopri8", "kvaerno5", "tsit5_fused")
#: ``--max-steps``, ``--rtol``, ``--atol``, ``--solver`` -> keyword arguments of the solve.
SOLVE_FLAGS = ("max_steps", "rtol", "atol", "solver")


def add_solve_arguments(p, methods: str) -> None:
    """``--max-steps``, ``--rtol``, ``--atol``, ``--solver`` (the options a solver failure names)."""
    g = p.add_argument_group(f"ODE solve ({methods})")
    g.add_argument("--max-steps", type=int_arg(1, MAX_MAX_STEPS), metavar="N",
                   help="step budget of each diffrax solve (default 2**21)")
    g.add_argument("--rtol", type=positive_float_arg, help="relative tolerance (default 1e-10)")
    g.add_argument("--atol", type=positive_float_arg, help="absolute tolerance (default 1e-12)")
    g.add_argument("--solver", choices=SOLVER_CHOICES,
                   help="solver for finite times (default tsit5; kvaerno5 is the stiff one; tsit5_fused is the "
                        "same tableau in the package's own loop, 2.5-3x faster on FT, BENCHMARKS.md)")


def solve_options(args) -> dict:
    """The solve keyword arguments given on the command line."""
    return {k: getattr(args, k) for k in SOLVE_FLAGS if getattr(args, k, None) is not None}


# ---------------------------------------------------------------------------
# --times


def _number(item: str, where: str) -> float:
    item = item.strip()
    if item.lower() in ("inf", "+inf", "infinity"):
        return math.inf
    try:
        return float(item)
    except ValueError:
        raise UsageError(f"{where}: {item!r} is not a number (expected a comma list like 0,0.1,1,inf)") from None


def _times_file(path: str, flag: str):
    import numpy as np

    if not os.path.isfile(path):
        raise UsageError(f"{flag} @{path}: no such file")
    if path.endswith(".npy"):
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any unreadable file is a user error
            raise UsageError(f"{flag} @{path}: cannot read it as a .npy array ({' '.join(str(e).split())})") from None
        if not isinstance(a, np.ndarray) or a.ndim != 1:
            shape = getattr(a, "shape", None)
            raise UsageError(f"{flag} @{path}: expected a 1-D array of times, got shape {shape}")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise UsageError(f"{flag} @{path}: expected real numbers, got dtype {a.dtype}")
        return a.astype(np.float64)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{flag} @{path}: cannot read it as text ({e}); use a text file or a .npy array") from None
    items = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ")
        items += [_number(tok, f"{flag} @{path} line {lineno}") for tok in line.split()]
    return np.asarray(items, dtype=np.float64)


def _times_range(kind: str, spec: str, flag: str):
    import numpy as np

    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 3:
        raise UsageError(f"{flag} {kind}:{spec}: expected {kind}:START,STOP,N (e.g. {kind}:1e-3,1e3,200)")
    start, stop = (_number(p, f"{flag} {kind}") for p in parts[:2])
    try:
        count = int(parts[2])
    except ValueError:
        raise UsageError(f"{flag} {kind}: N must be an integer, got {parts[2]!r}") from None
    if count < 1:
        raise UsageError(f"{flag} {kind}: N must be >= 1, got {count}")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise UsageError(f"{flag} {kind}: START and STOP must be finite (add ';inf' for the limit)")
    if kind == "logspace":
        if not start > 0:
            raise UsageError(f"{flag} logspace: START must be > 0 (log-spaced), got {start:g}; add '0;' in front for t=0")
        return np.geomspace(start, stop, count)
    return np.linspace(start, stop, count)


def parse_times(text, flag: str = "--times"):
    """``--times`` text -> a 1-D float64 array, checked: non-negative, strictly increasing, ``inf`` only last.

    Accepts ``0,0.1,1,inf``; ``logspace:START,STOP,N``; ``linspace:START,STOP,N``; ``@FILE.txt``;
    ``@FILE.npy``; and pieces of these joined with ``;``.
    """
    import numpy as np

    if text is None:
        raise UsageError(f"{flag}: missing")
    pieces = []
    for piece in str(text).split(";"):
        piece = piece.strip()
        if not piece:
            continue
        if piece.startswith("@"):
            pieces.append(_times_file(piece[1:], flag))
        elif piece.lower().startswith(("logspace:", "linspace:")):
            kind, spec = piece.split(":", 1)
            pieces.append(_times_range(kind.lower(), spec, flag))
        else:
            pieces.append(np.asarray([_number(s, flag) for s in piece.split(",") if s.strip()], dtype=np.float64))
    t = np.concatenate(pieces) if pieces else np.zeros(0)
    if t.size == 0:
        raise UsageError(f"{flag}: no times given (e.g. {flag} 0,1,10,inf)")
    if np.any(np.isnan(t)):
        raise UsageError(f"{flag}: times contains NaN")
    if np.any(t < 0):
        raise UsageError(f"{flag}: times must be non-negative, got {t[t < 0][0]:g}")
    if np.any(np.isinf(t[:-1])):
        raise UsageError(f"{flag}: inf is only allowed as the last time")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        i = int(bad[0])
        raise UsageError(f"{flag}: times must be strictly increasing, got {t[i]:g} then {t[i + 1]:g} "
                         f"(positions {i} and {i + 1})")
    return t


# ---------------------------------------------------------------------------
# --random and the problem loader


def parse_random_spec(text: str) -> dict:
    """``"d=50,k=2,m=10,eps=0.1,seed=0"`` -> keyword arguments for :meth:`Problem.random`."""
    kwargs = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise UsageError(f"--random: expected key=value, got {item!r}")
        key, value = (s.strip() for s in item.split("=", 1))
        if key not in RANDOM_KEYS:
            raise UsageError(f"--random: unknown key {key!r}; allowed: {', '.join(RANDOM_KEYS)}")
        if key in kwargs:
            raise UsageError(f"--random: key {key!r} given twice ({key}={kwargs[key]} and {key}={value}); give it once")
        try:
            kwargs[key] = RANDOM_KEYS[key](value)
        except ValueError:
            raise UsageError(f"--random: {key}={value!r} is not a valid {RANDOM_KEYS[key].__name__}") from None
        if RANDOM_KEYS[key] is float and not math.isfinite(kwargs[key]):
            raise UsageError(f"--random: {key}={value} must be finite")
    missing = [k for k in ("d", "k", "m") if k not in kwargs]
    if missing:
        raise UsageError(f"--random: missing required key(s) {missing} (e.g. d=50,k=2,m=10,eps=0.1,seed=0)")
    kwargs.setdefault("seed", 0)
    if kwargs["seed"] < 0:
        raise UsageError(f"--random: seed must be an integer >= 0, got seed={kwargs['seed']}")
    return kwargs


def available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable`` of /proc/meminfo, else physical memory), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def _gb(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GB"


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse (:class:`UsageError`) work that needs more than the available memory, before it starts."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise UsageError(f"{what} needs about {_gb(nbytes)} of memory, {_gb(avail)} is available; {fix}")


def check_random_memory(spec: dict) -> None:
    """The memory :meth:`Problem.random` and the set-up need for ``spec`` (float64 arrays n×d, d×(m+k), d×d
    for an anisotropic Σ), checked against the available memory."""
    try:
        d, k, m = int(spec["d"]), int(spec["k"]), int(spec["m"])
        n = int(spec.get("n", 2 * m))
    except (KeyError, TypeError, ValueError):
        return
    if min(d, k, m, n) < 1:
        return  # Problem.random names the bad size
    floats = 4 * n * d + 6 * d * k + 3 * d * m + n * m
    if spec.get("sigma_ood") == "anisotropic":
        floats += 4 * d * d
    check_memory(8.0 * floats, f"--random d={d},k={k},m={m},n={n}", "use a smaller d or n")


def check_output_memory(n_saves: int, problem, flag: str) -> None:
    """The saved features B(t) (n_saves × k × d float64, a few copies) must fit in memory."""
    batch = 1
    for s in problem.batch_shape:
        batch *= int(s)
    nbytes = 3 * 8.0 * batch * n_saves * problem.k * problem.d
    check_memory(nbytes, f"{flag}: {n_saves} saved states of B (k={problem.k}, d={problem.d}"
                 + (f", batch {batch}" if batch > 1 else "") + ")", f"save fewer states ({flag})")


def load_problem(args, *, batch: bool = False, who: str = "simulate"):
    """The problem named by ``--problem FILE`` or ``--random SPEC`` (exactly one), under the label rule.

    The label rule (:data:`LABEL_RULE`), one for every method and subcommand: a problem file must have
    y = X w* (``Problem.load`` without ``allow_label_noise``); noisy labels only come from
    ``--label-noise SIGMA`` with ``--random``. ``batch=False`` refuses a batched problem file.
    """
    from ..problem import Problem

    if (args.problem is None) == (args.random is None):
        raise UsageError("give exactly one of --problem P.npz or --random d=..,k=..,m=..,eps=..,seed=..")
    noise = getattr(args, "label_noise", None)
    noise_seed = getattr(args, "noise_seed", None)
    if noise_seed is not None and noise is None:
        raise UsageError("--noise-seed needs --label-noise SIGMA")
    if args.problem is not None:
        if noise is not None:
            raise UsageError("--label-noise needs --random (a problem file's labels must be noiseless, y = X w*)")
        try:
            problem = Problem.load(args.problem)
        except ValueError as e:
            msg = str(e)
            if "y must equal X @ w_star" in msg:
                msg += ("; every method needs noiseless labels in a problem file (for label noise use "
                        "--random ... --label-noise SIGMA)")
            raise ValueError(msg) from None
        if problem.batch_shape and not batch:
            raise UsageError(f"{who}: takes one problem, but {args.problem!r} holds a batch of shape "
                             f"{problem.batch_shape} (a leading axis on every array); give one member")
        return problem
    spec = parse_random_spec(args.random)
    check_random_memory(spec)
    if noise is not None:
        if not (math.isfinite(noise) and noise >= 0):
            raise UsageError(f"--label-noise must be a finite number >= 0, got {noise}")
        spec.update(label_noise=noise, noise_seed=noise_seed)
    return Problem.random(**spec)


def input_paths(args, names=("problem", "grid")) -> list:
    """``(flag, path)`` of the input files named on the command line (``--times @FILE`` included)."""
    out = []
    for name in names:
        path = getattr(args, name, None)
        if path:
            out.append(("--" + name.replace("_", "-"), path))
    times = getattr(args, "times", None)
    if times:
        for piece in str(times).split(";"):
            piece = piece.strip()
            if piece.startswith("@"):
                out.append(("--times", piece[1:]))
    return out


# ---------------------------------------------------------------------------
# output locations, checked before any work


def _probe_folder(folder: str, flag: str, target: str) -> None:
    """``folder`` (or, when missing, its nearest existing ancestor) must be a folder we can create files in."""
    folder = os.path.abspath(folder)
    anc = folder
    while not os.path.exists(anc):
        parent = os.path.dirname(anc)
        if parent == anc:
            break
        anc = parent
    if not os.path.isdir(anc):
        raise UsageError(f"{flag}: cannot create {target!r}: {anc!r} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".lpft-tmp-{os.getpid()}-probe-", dir=anc)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"{flag}: cannot write in {anc!r} ({e.strerror or e}); choose another location") from None
    if anc == folder:
        from ..atomic import clean_stale

        clean_stale(folder)  # leftovers of killed runs


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def check_out_file(path: str, flag: str, *, inputs=(), suffix: str | None = None) -> str:
    """Check an output file before any work; return the path to write.

    Refused: a wrong ``suffix``, an existing folder, the same file as any input (paths and symbolic
    links resolved, hard links too), a location where no file can be created. A symbolic link is
    written through to its target, with a warning. Missing parent folders are created at write time.
    """
    if suffix and not path.endswith(suffix):
        raise UsageError(f"{flag} must end in {suffix}, got {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{flag}: {path!r} is an existing folder; give a file name, e.g. "
                         f"{os.path.join(path, 'R' + (suffix or '.out'))!r}")
    for in_flag, in_path in inputs:
        if in_path and _same_file(path, in_path):
            raise UsageError(f"{flag} {path!r} is the input file of {in_flag} ({in_path!r}); writing it would "
                             "destroy the input: choose another output name")
    target = path
    if os.path.islink(path):
        target = os.path.realpath(path)
        if os.path.isdir(target):
            raise UsageError(f"{flag}: {path!r} is a symbolic link to the folder {target!r}; give a file name")
        warn(f"{flag} {path!r} is a symbolic link: writing its target {target!r}")
    _probe_folder(os.path.dirname(os.path.abspath(target)), flag, path)
    return target


def check_out_dir(path: str, flag: str, *, inputs=()) -> str:
    """Check an output folder before any work (it may not exist yet: it is created when written)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag}: {path!r} exists and is not a folder")
    if os.path.islink(path):
        warn(f"{flag} {path!r} is a symbolic link: writing into {os.path.realpath(path)!r}")
    real = os.path.realpath(path)
    for in_flag, in_path in inputs:
        if in_path and os.path.realpath(in_path) == real:
            raise UsageError(f"{flag} {path!r} is the input of {in_flag}; choose another folder")
    _probe_folder(path, flag, path)
    return path


def add_workers_option(p, what: str) -> None:
    """``--workers N`` (int >= 1, default :func:`lpft_theory._pool.default_workers`) for a command that
    computes ``what`` in worker processes."""
    from .._pool import default_workers

    p.add_argument("--workers", type=int_arg(1), default=default_workers(), metavar="N",
                   help=f"compute the {what} in N worker processes, longest first (default: min(2, CPU count) "
                        f"= {default_workers()}; 1 = in this process; the files are the same)")


def worker_pool(workers: int):
    """A context manager giving a process pool of ``workers`` (:func:`lpft_theory._pool.pool`), or None
    for ``workers`` = 1 (everything in this process)."""
    import contextlib

    if int(workers) <= 1:
        return contextlib.nullcontext(None)
    from .. import _pool

    return _pool.pool(int(workers))
