"""The figures of ``lpft-theory figures``, listed explicitly, and the one function that makes them.

A :class:`FigureSpec` is one figure: ``name`` (the file stem), ``compute(quick) -> dict`` (simulations
only; JSON-able data with the parameters used under ``"params"``), ``plot(data) -> Figure`` (drawing only,
a :class:`matplotlib.figure.Figure` built without pyplot) and ``caption`` (two lines for the README).

:data:`FIGURES` lists every figure, in order: the paper's (:mod:`lpft_theory.figures.paper`, drawn by
:mod:`lpft_theory.figures.plots`) the beyond-the-paper ones (:mod:`lpft_theory.figures.beyond`) and the follow-up papers' ones
(:mod:`lpft_theory.figures.follow_up`).
Adding a figure means adding its spec here. :func:`generate` computes, plots and writes
(:mod:`lpft_theory.figures.writer`); it never touches pyplot or the matplotlib backend, so it is safe
to call from a notebook.
"""

from __future__ import annotations

import dataclasses
import os
import types
from typing import Callable, Optional

from ..atomic import write_text
from . import beyond, paper, plots, tightness, writer


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """One figure: ``name`` (file stem), ``compute(quick) -> dict``, ``plot(data) -> Figure``, ``caption``
    (two lines of Markdown for the README).

    Raises:
        ValueError: ``name`` is not letters, digits and ``_``.
        TypeError: ``compute`` or ``plot`` is not callable.
    """

    name: str
    compute: Callable[[bool], dict]
    plot: Callable[[dict], object]
    caption: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.replace("_", "").isalnum():
            raise ValueError(f"FigureSpec.name must be letters, digits and '_', got {self.name!r}")
        if not callable(self.compute) or not callable(self.plot):
            raise TypeError(f"FigureSpec {self.name!r}: compute and plot must be callables")


def by_name(specs) -> types.MappingProxyType:
    """A read-only ``{name: spec}`` in the order given. Raises ValueError on a repeated name."""
    out = {}
    for spec in specs:
        if not isinstance(spec, FigureSpec):
            raise TypeError(f"figures are FigureSpec objects, got {type(spec).__name__}")
        if spec.name in out:
            raise ValueError(f"figure {spec.name!r} is listed twice")
        out[spec.name] = spec
    return types.MappingProxyType(out)


def _follow_up_specs() -> tuple:
    """The follow-up papers' figures (:mod:`lpft_theory.figures.follow_up`, issue 15)."""
    from . import follow_up

    return tuple(FigureSpec(*entry) for entry in follow_up.entries())


#: Every figure, in README order.
FIGURES = by_name((
    FigureSpec(
        "toy_2d", paper.compute_toy_2d, plots.plot_toy_2d,
        "**The paper's Fig. 2, computed** (d = 2, one ID input x_id = e₁, B₀ at 50°, w\\* at 45°, v₀ = 0.1). LP and LP-FT "
        "stay on B₀'s line and fit x_id (dotted line), L_ood = 0.037.\n"
        "FT moves B only along e₁ (Lemma A.3) and ends on the same dotted line, farther from w\\* along e₂, L_ood = 0.094. "
        "The endpoints match the k = 1 closed forms of `docs/theory.md` §5."),
    FigureSpec(
        "ood_vs_time", paper.compute_ood_vs_time, plots.plot_ood_vs_time,
        "**OOD error along training** (d = 50, k = 2, m = 10, ε = 0.05, random heads; one problem bold, 32 seeds as "
        "bands). FT never gets down to LP's or LP-FT's error: in every seed min over t of FT's is ≥ 5× LP's limit;\n"
        "the two versions of the FT lower bound (equal here, since Σ = I) lie below FT's minimum."),
    FigureSpec(
        "distortion", paper.compute_distortion, plots.plot_distortion,
        "**Feature distortion.** FT changes the features of ID and OOD inputs by about 0.4, LP-FT by about 0.01. The part of the "
        "change acting on S⊥ stays at rounding level, ≤ 1e-12 (Lemma A.3).\n"
        "Right: the FT / LP-FT ratio at convergence per seed. At ε = 0.05 its median is about 40×, against the ~20× "
        "the paper measured on real networks."),
    FigureSpec(
        "eps_tradeoff", paper.compute_eps_tradeoff, plots.plot_eps_tradeoff,
        "**Feature quality.** At convergence FT and LP-FT fit S exactly (ID-subspace loss 0) and LP does not. OOD, LP "
        "and LP-FT beat FT for good features (small ε),\n"
        "and lose it near ε ≈ 0.6 (small random heads, head_scale 0.1; mean over 12 seeds, band 10–90%)."),
    FigureSpec(
        "head_alignment", paper.compute_head_alignment, plots.plot_head_alignment,
        "**The FT lower bound against the head alignment error φ.** Each dot is one problem's min over t of FT's "
        "√L_ood; each bar is its lower bound (final Thm 3.3).\n"
        "Right: the ratio observed / bound. A point below 1 would be a violation; none of the 48 problems has one."),
    FigureSpec(
        "wise_ft", beyond.compute_wise_ft, beyond.plot_wise_ft,
        "**WiSE-FT (beyond the paper).** Weights (v, B) interpolated between the start and the fine-tuned end "
        "(t = ∞): from (v₀, B₀) to FT, and from (v_lp, B₀) to LP-FT (d = 50, k = 2, m = 10, ε = 0.05, 8 seeds).\n"
        "From a random head every α keeps FT's large OOD loss; from LP the whole path stays at the LP / LP-FT "
        "level. w(α) is quadratic in α, so both losses are exact quartics (ID loss floored at 1e-16)."),
    FigureSpec(
        "lr_ratio", beyond.compute_lr_ratio, beyond.plot_lr_ratio,
        "**Layer-wise step sizes (beyond the paper).** Discrete GD from a random head, lr_v fixed, run to a "
        "stationary point, against lr_B/lr_v; lines: LP, LP-FT and FT flows at t = ∞ (4 seeds).\n"
        "A small feature step size (lr_B/lr_v = 1e-3) ends within 12 % of LP-FT's OOD loss in every seed: it "
        "mimics LP-FT; at lr_B = lr_v GD ends within 10 % of FT's. Missing points diverged."),
    FigureSpec(
        "k1_tightness", tightness.compute_k1_tightness, tightness.plot_k1_tightness,
        "**How tight the FT lower bound is, k = 1, ε = 0** (Σ = I; `docs/theory.md` §9): observed / bound over "
        "v₀/v\\* and ‖w\\*‖ for three values of s = ‖Π_S b₀‖; top: t = ∞ (closed form), bottom: min over t (isotropic inputs).\n"
        "Hatched, inside the red contour: the bound fails. At t = ∞ the ratio never drops to 1/2 (its infimum, "
        "approached as ‖w\\*‖ → 0, s → 1, v₀ → v\\*)."),
) + _follow_up_specs())


def select(only: Optional[list] = None) -> list:
    """The specs to run: all of :data:`FIGURES`, or those named in ``only`` (in :data:`FIGURES` order).

    Raises:
        ValueError: a name in ``only`` is not a figure (the message lists the available ones).
    """
    if not only:
        return list(FIGURES.values())
    unknown = [n for n in only if n not in FIGURES]
    if unknown:
        raise ValueError(f"--only: unknown figure(s) {unknown}; available: {', '.join(FIGURES)}")
    return [FIGURES[n] for n in FIGURES if n in only]


#: Seconds each figure's computation takes in one process with an empty compilation cache (full size, 2-core
#: Intel Xeon; ``benchmarks/results/seventh_pass/profile_final_cold.txt``): worker processes take the longest
#: first. A first run is the one where the order matters most.
COMPUTE_SECONDS = dict(toy_2d=2.5, ood_vs_time=10.9, distortion=2.4, eps_tradeoff=7.8, head_alignment=2.5,
                       wise_ft=2.7, lr_ratio=6.5, k1_tightness=9.6, followup_early_lp=3.0,
                       followup_head_norm=0.9, followup_surgical=1.6, followup_projected=5.2,
                       followup_ensembles=1.8, followup_logistic=1.7)

#: Figures computed in the same task of a worker process: ``distortion`` reuses the runs ``ood_vs_time``
#: caches (:func:`lpft_theory.figures.paper._runs`), and ``head_alignment`` runs the Rodas4 observer that
#: ``ood_vs_time`` compiles for the same padded shape (two workers compiled it each, 3.3 s).
SAME_TASK = (("ood_vs_time", "distortion", "head_alignment"),)


def _compute(spec, quick: bool) -> dict:
    """``spec``'s data as written to JSON (rounded, NaN as None)."""
    return writer.roundtrip(dict(spec.compute(quick), figure=spec.name, quick=bool(quick)))


def _compute_task(names, quick: bool) -> dict:
    """A worker task: ``{name: data}`` for the figures ``names``, in order."""
    return {name: _compute(FIGURES[name], quick) for name in names}


def tasks(specs) -> list:
    """The selected figures as tasks for worker processes (lists of names, :data:`SAME_TASK` kept
    together), the longest (:data:`COMPUTE_SECONDS`) first."""
    names = [spec.name for spec in specs]
    out, seen = [], set()
    for name in names:
        if name in seen:
            continue
        group = next((g for g in SAME_TASK if name in g), (name,))
        task = [n for n in group if n in names]
        seen.update(task)
        out.append(task)
    return sorted(out, key=lambda t: -sum(COMPUTE_SECONDS.get(n, 1.0) for n in t))


def submit(executor, specs, quick: bool) -> dict:
    """Submit the computation of ``specs`` to ``executor`` (:func:`tasks`); ``{name: future of {name: data}}``."""
    futures = {}
    for task in tasks(specs):
        fut = executor.submit(_compute_task, task, bool(quick))
        futures.update({name: fut for name in task})
    return futures


def generate(out_dir, quick: bool = False, only: Optional[list] = None, log=None, replot: bool = False,
             executor=None, futures: Optional[dict] = None) -> list:
    """Compute, plot and write each selected figure; then write ``README.md`` (the index of all
    figures with their captions).

    Arguments:
        out_dir: folder for ``NAME.png``, ``NAME.pdf``, ``NAME.json`` and ``README.md`` (created).
        quick: fewer seeds and grid points (each compute function's ``quick`` mode).
        only: figure names (default: all); see :func:`select`.
        log: ``log(message)`` for progress lines, or None.
        replot: read ``NAME.json`` from ``out_dir`` instead of computing.
        executor: a process pool (:func:`lpft_theory._pool.pool`) to compute the figures in, longest
            first (:func:`tasks`); each is drawn and written here as soon as it is computed. The data,
            and so the files, are those of a computation in this process.
        futures: what :func:`submit` returned, when the caller has already submitted them (``reproduce``
            queues its claims behind the longest figures).

    Returns:
        The paths written, in :data:`FIGURES` order.

    Raises:
        ValueError: unknown names in ``only``, or ``replot`` without the JSON file.

    The plot is drawn from the data as written to JSON (rounded, NaN as None), so ``replot=True``
    gives the same files.
    """
    specs = select(only)
    by_name_written = {}

    def draw(spec, data):
        with plots.style():
            by_name_written[spec.name] = writer.write_figure(spec.plot(data), data, out_dir, spec.name)
        if log:
            log(f"{spec.name}: wrote {spec.name}.png/.pdf/.json")

    if (executor is not None or futures is not None) and not replot:
        import concurrent.futures

        if futures is None:
            futures = submit(executor, specs, quick)
        if log:
            log(f"computing {len(specs)} figure(s) in worker processes, longest first")
        pending = {fut: [s for s in specs if futures[s.name] is fut] for fut in set(futures[s.name] for s in specs)}
        for fut in concurrent.futures.as_completed(pending):
            datas = fut.result()
            for spec in pending[fut]:
                draw(spec, datas[spec.name])
    else:
        for spec in specs:
            if replot:
                path = os.path.join(os.fspath(out_dir), f"{spec.name}.json")
                if not os.path.exists(path):
                    raise ValueError(f"--replot: {path!r} does not exist; run without --replot first")
                data = writer.read_data(path)
            else:
                if log:
                    log(f"{spec.name}: computing")
                data = _compute(spec, quick)
            draw(spec, data)
    written = [path for spec in specs for path in by_name_written[spec.name]]
    index = os.path.join(os.fspath(out_dir), "README.md")
    write_text(index, index_markdown())
    written.append(index)
    return written


def index_markdown() -> str:
    """The text of ``figures/README.md``: every figure, its caption and files."""
    lines = ["# Figures", "",
             "Written by `lpft-theory figures --out figures/` (do not edit by hand). Each figure comes as",
             "PNG, PDF and a JSON file with the plotted data and the parameters used (`params`).", ""]
    for spec in FIGURES.values():
        lines += [f"## {spec.name}", "", f"![{spec.name}]({spec.name}.png)", "", spec.caption.strip(), "",
                  f"Files: [`{spec.name}.png`]({spec.name}.png), [`{spec.name}.pdf`]({spec.name}.pdf), "
                  f"[`{spec.name}.json`]({spec.name}.json).", ""]
    return "\n".join(lines)
