"""How far the data of two figure folders differ: every ``NAME.json`` written by ``lpft-theory figures`` in
both folders, compared value by value.

For each figure whose JSON differs it prints one line: how many values differ, the largest relative
difference among values whose magnitude is above ``--floor`` (default 1e-12: below it a value is numerically
zero, e.g. a train loss of 1e-24, and a relative difference means nothing), the largest absolute difference,
and where each occurs (the JSON path). A key present on one side only, or a value that is not a number on
one side, is listed as a structural difference. The PNG and PDF files are compared byte for byte.

Usage::

    python benchmarks/figure_data_diff.py OLD_DIR NEW_DIR [--floor 1e-12] [--out FILE]

Exit code 0 either way (a difference is a result to explain, not an error); 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import sys


def _leaves(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, x


def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def compare_data(old: dict, new: dict, floor: float = 1e-12) -> dict:
    """The differences of two JSON documents: ``n_differ``, ``max_rel`` and ``max_abs`` as ``(value, path, old,
    new)`` (``None`` when no number differs), and ``structural`` (paths whose kind or presence differs)."""
    a, b = dict(_leaves(old)), dict(_leaves(new))
    n, rel, ab, structural = 0, None, None, []
    for path in sorted(set(a) | set(b)):
        x, y = a.get(path, KeyError), b.get(path, KeyError)
        if x == y:
            continue
        n += 1
        if not (_number(x) and _number(y)):
            structural.append(path)
            continue
        d = abs(x - y)
        if ab is None or d > ab[0]:
            ab = (d, path, x, y)
        big = max(abs(x), abs(y))
        if big > floor and (rel is None or d / big > rel[0]):
            rel = (d / big, path, x, y)
    return dict(n_differ=n, max_rel=rel, max_abs=ab, structural=structural)


def _fmt(t):
    return "none" if t is None else f"{t[0]:.3g} at {t[1]} ({t[2]!r} -> {t[3]!r})"


def report(old_dir: str, new_dir: str, floor: float = 1e-12) -> list:
    """Lines of the report (see the module docstring)."""
    lines = []
    names = sorted(set(os.listdir(old_dir)) & set(os.listdir(new_dir)))
    for name in names:
        pa, pb = os.path.join(old_dir, name), os.path.join(new_dir, name)
        if not os.path.isfile(pa):
            continue
        if name.endswith(".json"):
            with open(pa, encoding="utf-8") as fa, open(pb, encoding="utf-8") as fb:
                r = compare_data(json.load(fa), json.load(fb), floor)
            if r["n_differ"]:
                lines.append(f"{name}: {r['n_differ']} values differ; max relative (|value| > {floor:g}) "
                             f"{_fmt(r['max_rel'])}; max absolute {_fmt(r['max_abs'])}"
                             + (f"; structural: {', '.join(r['structural'][:5])}" if r["structural"] else ""))
            else:
                lines.append(f"{name}: identical")
        elif name.endswith((".png", ".pdf")):
            lines.append(f"{name}: {'byte-identical' if filecmp.cmp(pa, pb, shallow=False) else 'bytes differ'}")
    for name in sorted(set(os.listdir(old_dir)) ^ set(os.listdir(new_dir))):
        lines.append(f"{name}: only in {'the old' if name in os.listdir(old_dir) else 'the new'} folder")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--floor", type=float, default=1e-12)
    p.add_argument("--out", default=None, help="also write the report to this file")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    for flag, path in (("OLD_DIR", args.old), ("NEW_DIR", args.new)):
        if not os.path.isdir(path):
            print(f"figure_data_diff: {flag} {path!r} is not a folder; give a folder written by lpft-theory figures",
                  file=sys.stderr)
            return 2
    if not args.floor >= 0:
        print(f"figure_data_diff: --floor must be >= 0, got {args.floor}", file=sys.stderr)
        return 2
    text = "\n".join(report(args.old, args.new, args.floor)) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(f"python benchmarks/figure_data_diff.py {args.old} {args.new} --floor {args.floor:g}\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
