"""``lpft-theory reproduce``: the project's main job, in three steps.

1. The LP / FT / LP-FT comparison on one random problem with good features (a table).
2. Every figure (``lpft-theory figures``) into ``--figures`` (default ``figures/``).
3. Every Section 3 statement checked by simulation (``lpft-theory claims``), printed and
   written to ``--report`` (default ``results/``) as ``claims.md`` and ``claims.json``.
4. The generated parts of ``--docs``/``results.md`` (default ``docs/results.md``) rewritten from the same
   rows: the text between ``<!-- BEGIN GENERATED: NAME -->`` and ``<!-- END GENERATED -->`` for each NAME in
   :data:`GENERATED_BLOCKS`; everything outside the markers is left as written. With ``--quick`` this step
   runs only when ``--docs`` is given, so a CI-sized run never overwrites the full-size numbers.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time

from ..compare import compare_methods, format_table, summary_ratios
from ..atomic import write_text
from ..problem import Problem
from .common import add_workers_option, worker_pool

DEFAULT_PROBLEM = dict(seed=0, d=100, k=4, m=20, n=40, eps=0.05)
"""The problem of step 1 (``Problem.random`` keywords); ``--quick`` shrinks it to d=40, m=10, n=20."""

GENERATED_BLOCKS = ("compare", "claims")
"""The names of the generated blocks of ``results.md``, in the order they are appended to a new file."""

RESULTS_DOC = "results.md"
"""The file name of the results page inside ``--docs``."""

_BEGIN = re.compile(r"^<!-- BEGIN GENERATED: ([a-z0-9_-]+) -->[ \t]*$", re.M)
_END = "<!-- END GENERATED -->"
_NEW_DOC = "# Results\n\nThe blocks below are written by `lpft-theory reproduce`.\n"


def _split_generated(text: str, where: str = "results.md") -> list:
    """``text`` cut at the generated-block markers: a list alternating prose (str) and (name, body) pairs.

    Raises ``ValueError`` on a BEGIN without its END, an END without a BEGIN, nested or repeated blocks,
    or a name not in :data:`GENERATED_BLOCKS`."""
    parts, pos, seen = [], 0, set()
    lines_end = [m.start() for m in re.finditer(re.escape(_END), text)]
    for m in _BEGIN.finditer(text):
        name = m.group(1)
        if m.start() < pos:
            raise ValueError(f"{where}: generated block {name!r} starts inside another block")
        if name not in GENERATED_BLOCKS:
            raise ValueError(f"{where}: unknown generated block {name!r} (expected one of {', '.join(GENERATED_BLOCKS)})")
        if name in seen:
            raise ValueError(f"{where}: generated block {name!r} appears twice")
        seen.add(name)
        ends = [e for e in lines_end if e > m.end()]
        if not ends:
            raise ValueError(f"{where}: generated block {name!r} has no closing {_END}")
        nxt = _BEGIN.search(text, m.end())
        if nxt is not None and nxt.start() < ends[0]:
            raise ValueError(f"{where}: generated block {name!r} has no closing {_END} before the next block")
        parts.append(text[pos:m.start()])
        parts.append((name, text[m.end():ends[0]]))
        pos = ends[0] + len(_END)
    rest = text[pos:]
    if _END in rest:
        raise ValueError(f"{where}: {_END} without a matching BEGIN GENERATED marker")
    parts.append(rest)
    return parts


def check_results_doc(path) -> None:
    """Fail early (``ValueError``) when ``path`` exists and its generated-block markers are malformed."""
    if os.path.exists(path):
        if not os.path.isfile(path):
            raise ValueError(f"--docs: {path!r} exists and is not a file")
        with open(path, encoding="utf-8") as f:
            _split_generated(f.read(), path)


def fill_generated(text: str, blocks: dict, where: str = "results.md") -> str:
    """``text`` with the body of every generated block named in ``blocks`` replaced by ``blocks[name]``.

    Prose outside the markers is kept byte for byte; blocks of ``blocks`` that the text lacks are appended
    at the end, in :data:`GENERATED_BLOCKS` order."""
    out, present = [], set()
    for part in _split_generated(text, where):
        if isinstance(part, str):
            out.append(part)
            continue
        name, body = part
        present.add(name)
        new = blocks.get(name)
        out.append(f"<!-- BEGIN GENERATED: {name} -->" + (body if new is None else "\n" + new.strip("\n") + "\n") + _END)
    text = "".join(out)
    for name in GENERATED_BLOCKS:
        if name in blocks and name not in present:
            text = text.rstrip("\n") + f"\n\n<!-- BEGIN GENERATED: {name} -->\n{blocks[name].strip(chr(10))}\n{_END}\n"
    return text


def write_results_doc(path, blocks: dict) -> None:
    """Rewrite the generated blocks of the results page ``path`` atomically (created when missing)."""
    text = _NEW_DOC
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    write_text(path, fill_generated(text, blocks, path))


def _generated_note(quick: bool) -> str:
    size = "`lpft-theory reproduce --quick` (CI size)" if quick else "`lpft-theory reproduce` (full size)"
    return f"<!-- Written by {size}; edit the prose outside the markers, not this block. -->"


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="the main job: comparison table, every figure, every claim checked")
    p.add_argument("--quick", action="store_true", help="smaller sizes everywhere (for CI; about two minutes)")
    p.add_argument("--figures", default="figures", metavar="DIR", help="figure folder (default: figures)")
    p.add_argument("--report", default="results", metavar="DIR", help="folder for claims.md/claims.json (default: results)")
    p.add_argument("--docs", default=None, metavar="DIR",
                   help="folder whose results.md gets its generated blocks rewritten (default: docs; "
                        "with --quick only when given)")
    add_workers_option(p, "figures and the claims")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..theory import claims
    from ..figures import registry

    docs = args.docs if args.docs is not None else (None if args.quick else "docs")
    from .common import check_out_dir

    for flag, path in (("--figures", args.figures), ("--report", args.report), ("--docs", docs)):
        if path is not None:
            check_out_dir(path, flag)
    doc_path = None if docs is None else os.path.join(docs, RESULTS_DOC)
    if doc_path is not None:
        check_results_doc(doc_path)
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    spec = dict(DEFAULT_PROBLEM, d=40, m=10, n=20) if args.quick else DEFAULT_PROBLEM
    title = "LP vs FT vs LP-FT on Problem.random(" + ", ".join(f"{k}={v}" for k, v in spec.items()) + ")"
    legend = "losses: train = ||X B^T v - y||^2, ID-subspace = ||P_S e||^2, OOD = e^T Sigma e (Sigma = I), e = B^T v - w*"
    with worker_pool(args.workers) as ex:
        if ex is not None:  # the claims (the longest task) first, then the figures, longest first
            claims_future = ex.submit(claims.run_claims, args.quick, 1)
            futures = registry.submit(ex, registry.select(None), args.quick)
        print("== 1. " + title)
        print(legend)
        rows = compare_methods(Problem.random(**spec), times=(0.0, 1.0, 10.0, 100.0, math.inf))
        compare_table = format_table(rows)
        print(compare_table)
        s = summary_ratios(rows)["final_ood"]
        summary = f"OOD loss at convergence: LP {s['lp']:.3e}, FT {s['ft']:.3e}, LP-FT {s['lpft']:.3e}"
        print(summary + "\n", flush=True)

        print(f"== 2. Figures -> {args.figures}/", flush=True)
        for path in registry.generate(args.figures, quick=args.quick, log=log,
                                      futures=None if ex is None else futures):
            print(path)

        print("\n== 3. The paper's Section 3 statements, checked by simulation", flush=True)
        claim_rows = claims.run_claims(quick=args.quick) if ex is None else claims_future.result()
    table = claims.format_claims_table(claim_rows)
    print(table)
    os.makedirs(args.report, exist_ok=True)
    write_text(os.path.join(args.report, "claims.md"), table + "\n")
    write_text(os.path.join(args.report, "claims.json"),
               json.dumps({"quick": bool(args.quick), "claims": claim_rows}, allow_nan=False, default=float, indent=1))
    wrote = f"{args.report}/claims.md and {args.report}/claims.json"
    if doc_path is not None:
        note = _generated_note(args.quick)
        write_results_doc(doc_path, {
            "compare": f"{note}\n\n{title}; {legend}.\n\n```text\n{compare_table}\n```\n\n{summary}.",
            "claims": f"{note}\n\n{table}",
        })
        wrote += f" and the generated blocks of {doc_path}"
    print(f"\nwrote {wrote}; total {time.perf_counter() - start:.0f} s")
    return 0
