"""The report folders of ``lpft-theory check-bound --report DIR``: the randomised campaign's and the
adversarial search's.

The numbers come from the pure summaries of :mod:`lpft_theory.theory` (:func:`campaign.summarize`,
:func:`campaign.observed_over_bound`, :func:`adversarial.summarize`); this module only writes them.
Every file is written atomically (:mod:`lpft_theory.atomic`; the histogram through
:func:`lpft_theory.figures.writer.write_png`), JSON through the one JSON-safe conversion
:func:`lpft_theory.figures.writer.to_jsonable` (numpy scalars to Python, NaN and ±inf to null, every
digit kept). No pyplot, no backend switch: safe to call from a notebook.
"""

from __future__ import annotations

import json
import os

from ..atomic import write_text
from ..theory import adversarial, campaign
from ..theory import bounds as theory
from . import plots, writer

#: Campaign: how many of the tightest non-violating trials per statement are saved for replay.
TIGHTEST_CASES = 3
CSV_COLUMNS = ("trial", "seed", "d", "k", "m", "n", "eps", "w_star_norm", "id_overlap", "sigma", "head", "converged")
CSV_VERDICT = ("bound", "observed", "margin", "applies", "holds")


def _json(obj) -> str:
    return json.dumps(writer.to_jsonable(obj, digits=None), indent=2, allow_nan=False)


def _cell(x, digits: int = 3) -> str:
    """A Markdown table cell: ``n/a`` for None, floats with ``digits`` significant digits."""
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _table(header, rows) -> list:
    """Markdown table lines: ``header`` (column names), then one line per row of cells."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _saved(title: str, files) -> list:
    """The list of saved files under ``title`` (nothing when there are none)."""
    return ["", title, ""] + [f"- `{f}`" for f in files] if files else []


# ---------------------------------------------------------------------------
# the campaign


def campaign_markdown(summary: dict, files: list) -> str:
    """A short Markdown report of :func:`lpft_theory.theory.campaign.summarize` (and the saved ``files``)."""
    lines = [f"# FT lower bound campaign: {summary['trials']} trials (seed {summary['seed']})", "",
             f"Wall time {summary['elapsed_s']} s; {summary['rechecked_tight']} trials re-observed at rtol 1e-10; "
             f"{summary['unconverged']} did not reach the steady state within the step budget.", "",
             f"Rule: {summary['violation_rule']}.", ""]
    rows = []
    for st, s in summary["statements"].items():
        rb = s["ratio_observed_over_bound"] or {}
        rows.append([st, s["loss"], s["applicable"], s["non_vacuous"],
                     f"{s['violations']} ({s['confirmed_violations']} / {s['unconfirmed']})",
                     _cell(s["worst_margin"]), _cell(rb.get("min")), _cell(rb.get("median"))])
    lines += _table(["statement", "loss", "applicable", "non-vacuous", "violations (confirmed / unconfirmed)",
                     "worst margin", "min observed/bound", "median observed/bound"], rows)
    lines += ["", "Not applicable, by reason:", ""]
    for st, s in summary["statements"].items():
        for why, c in sorted(s["not_applicable_reasons"].items()):
            lines.append(f"- {st}: {why}: {c}")
    lines += _saved("Saved cases (replay with `lpft-theory check-bound --problem FILE --json`):", files)
    return "\n".join(lines) + "\n"


def _trials_csv(rows) -> str:
    head = list(CSV_COLUMNS) + [f"{st}:{c}" for st in theory.STATEMENTS for c in CSV_VERDICT]
    lines = [",".join(head)]
    for i, r in enumerate(rows):
        vals = [i] + [r[c] for c in CSV_COLUMNS[1:]] + [r[st][c] for st in theory.STATEMENTS for c in CSV_VERDICT]
        lines.append(",".join("" if v is None else (f"{v:.10g}" if isinstance(v, float) else str(v)) for v in vals))
    return "\n".join(lines) + "\n"


def write_campaign_report(result: dict, folder) -> dict:
    """Write a campaign (:func:`lpft_theory.theory.campaign.run_campaign`) to ``folder``.

    Files: ``report.json`` (the summary, the sampling grid and the saved file names), ``summary.md``
    (:func:`campaign_markdown`), ``histogram.png`` (:func:`lpft_theory.figures.plots.plot_campaign_histogram`),
    ``trials.csv`` (one line per trial) and, per statement, the worst (≤ ``campaign.WORST_CASES``) violating
    cases and the :data:`TIGHTEST_CASES` tightest non-violating ones as problem ``.npz`` files (for replay).

    Returns:
        The summary as written to ``report.json`` (with ``files`` and ``grid``).
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    summary = campaign.summarize(result)
    rows, problems = result["rows"], result["problems"]
    files = []
    for st in theory.STATEMENTS:
        cand = sorted((r[st]["margin"], i) for i, r in enumerate(rows) if r[st]["applies"] and r[st]["margin"] is not None)
        viol = [(mg, i) for mg, i in cand if rows[i][st]["holds"] is False][:campaign.WORST_CASES]
        tight = [(mg, i) for mg, i in cand if rows[i][st]["holds"]][:TIGHTEST_CASES]
        for tag, sel in (("violation", viol), ("tightest", tight)):
            for rank, (_, i) in enumerate(sel):
                name = f"{tag}_{st}_{rank:02d}_trial{i}.npz"
                problems[i].save(os.path.join(folder, name))
                files.append(name)
    summary["files"] = files
    summary["grid"] = result["grid"]
    write_text(os.path.join(folder, "report.json"), _json(summary))
    write_text(os.path.join(folder, "summary.md"), campaign_markdown(summary, files))
    with plots.style():
        writer.write_png(plots.plot_campaign_histogram(campaign.observed_over_bound(result), len(rows)), folder,
                         "histogram")
    write_text(os.path.join(folder, "trials.csv"), _trials_csv(rows))
    return summary


# ---------------------------------------------------------------------------
# the adversarial search


def adversarial_markdown(summary: dict) -> str:
    """A short Markdown report of :func:`lpft_theory.theory.adversarial.summarize` (with ``files``)."""
    lines = [f"# Adversarial search: {summary['starts']} starts x {summary['steps']} Adam steps per statement "
             f"(seed {summary['seed']}, {summary['elapsed_s']} s)", ""]
    rows = []
    for st, s in summary["statements"].items():
        b = s["best"] or {}
        rows.append([st, s["confirmed_violations"], s["unconfirmed"], _cell(b.get("relative_gap"), 4),
                     _cell(b.get("bound"), 4), _cell(b.get("observed"), 4), b.get("status", "n/a")])
    lines += _table(["statement", "confirmed violations", "unconfirmed", "best (bound - observed)/observed",
                     "best bound", "best observed", "status"], rows)
    lines += _saved("Saved (replay with `lpft-theory check-bound --problem FILE --json --confirm`):", summary["files"])
    return "\n".join(lines) + "\n"


def write_adversarial_report(result: dict, folder) -> dict:
    """Write an adversarial search (:func:`lpft_theory.theory.adversarial.run_search`) to ``folder``:
    ``report.json`` (:func:`lpft_theory.theory.adversarial.summarize` plus the saved ``files``),
    ``summary.md`` (:func:`adversarial_markdown`) and, per statement, the best candidate and every
    confirmed violation as problem ``.npz`` files (``adversarial_STATEMENT_startNN.npz``).

    Returns:
        The summary as written to ``report.json``.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    summary = adversarial.summarize(result)
    files = []
    for st, s in summary["statements"].items():
        rs = {r["start"]: r for r in result["results"] if r["statement"] == st}
        best = [] if s["best"] is None else [s["best"]["start"]]
        for start in best + [i for i, r in rs.items() if r["status"] == "confirmed violation" and i not in best]:
            name = f"adversarial_{st}_start{start:02d}.npz"
            rs[start]["problem"].save(os.path.join(folder, name))
            files.append(name)
    summary["files"] = files
    write_text(os.path.join(folder, "report.json"), _json(summary))
    write_text(os.path.join(folder, "summary.md"), adversarial_markdown(summary))
    return summary
