"""The documentation: README, ``docs/`` (the mkdocs site), ``figures/README.md`` and the notebooks.

* ``mkdocs build --strict`` passes, and fails on a broken link and on an undocumented public name
  (skipped with a reason when the ``docs`` extra is not installed);
* every name in an ``__all__`` of the package has a docstring, and the API pages list every public module
  and name;
* every relative link, and every repository path in code, of the Markdown files and notebooks resolves to a
  file in the repository; dotted ``lpft_theory.x.y`` names in code spans resolve to objects;
* every ``lpft-theory`` command line in the docs parses, and the README's quick commands run as printed;
* the README's architecture tree matches the package;
* ``lpft-theory reproduce`` rewrites the generated blocks of ``docs/results.md`` and nothing else.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKDOWN = sorted([README, ROOT / "BENCHMARKS.md", ROOT / "figures" / "README.md", ROOT / "notebooks" / "README.md",
                   *(ROOT / "docs").rglob("*.md")])
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Top-level entries of the repository that a path in code may start with.
REPO_TOP = ("lpft_theory/", "tests/", "docs/", "notebooks/", "figures/", "problems/", "benchmarks/", ".ci/")
REPO_FILES = ("README.md", "BENCHMARKS.md", "LICENSE", "CITATION.cff", "setup.cfg", "pyproject.toml", "mkdocs.yml")
#: Public subpackages whose ``__all__`` is the public face.
FACES = ("lpft_theory", "lpft_theory.theory", "lpft_theory.variants", "lpft_theory.scale", "lpft_theory.figures",
         "lpft_theory.cli")


def _hooks():
    spec = importlib.util.spec_from_file_location("lpft_docs_hooks", ROOT / "docs" / "hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PENDING = _hooks().PENDING_DOCSTRINGS


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("NO_MKDOCS_2_WARNING", "1")
    return env


# ---------------------------------------------------------------------------
# Markdown parsing helpers


def _strip_fences(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(text without fenced code blocks, [(info string, block body), ...])."""
    blocks, out, fence, info, body = [], [], None, "", []
    for line in text.split("\n"):
        s = line.strip()
        if fence is None and (s.startswith("```") or s.startswith("~~~")):
            fence, info, body = s[:3], s[3:].strip(), []
            continue
        if fence is not None and s.startswith(fence):
            blocks.append((info, "\n".join(body)))
            fence = None
            continue
        (body if fence is not None else out).append(line)
    return "\n".join(out), blocks


_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HTML_SRC = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
_SPAN = re.compile(r"(`+)(.+?)\1")


def _markdown_of(path: pathlib.Path) -> str:
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def _links(text: str) -> list[str]:
    prose, _ = _strip_fences(text)
    prose = _SPAN.sub("", prose)
    return _LINK.findall(prose) + _HTML_SRC.findall(prose)


def _code_texts(text: str) -> list[str]:
    prose, blocks = _strip_fences(text)
    return [m.group(2) for m in _SPAN.finditer(prose)] + [b for _, b in blocks]


def _repo_paths_in_code(text: str) -> list[str]:
    out = []
    for code in _code_texts(text):
        for token in re.split(r"[\s\"'=(),]+", code):
            token = token.rstrip(".,;:")
            if not (token.startswith(REPO_TOP) or token in REPO_FILES):
                continue
            if any(c in token for c in "*<>{}[]$|") or "NN" in token or "..." in token or "…" in token:
                continue
            out.append(token)
    return out


DOCUMENTS = MARKDOWN + NOTEBOOKS


def _id(p):
    return str(p.relative_to(ROOT))


# ---------------------------------------------------------------------------
# links and paths


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_id)
def test_relative_links_resolve(doc):
    """Markdown and image links (and HTML src/href) resolve to files or folders of the repository."""
    bad = []
    for target in _links(_markdown_of(doc)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        resolved = (doc.parent / path).resolve()
        if not resolved.exists() or ROOT not in (resolved, *resolved.parents):
            bad.append(target)
    assert not bad, f"{_id(doc)}: links that do not resolve inside the repository: {bad}"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_id)
def test_repository_paths_in_code_exist(doc):
    """Paths such as ``problems/x.npz`` or ``tests/test_x.py::test_y`` in code spans and code blocks exist
    (and so does the named test function)."""
    bad = []
    for token in _repo_paths_in_code(_markdown_of(doc)):
        path, _, func = token.partition("::")
        p = ROOT / path
        if not p.exists():
            bad.append(token)
        elif func and not re.search(rf"^\s*def {re.escape(func.split('[')[0])}\(", p.read_text(encoding="utf-8"), re.M):
            bad.append(token)
    assert not bad, f"{_id(doc)}: repository paths in code that do not exist: {sorted(set(bad))}"


def _resolve_dotted(name: str):
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=_id)
def test_dotted_names_in_code_resolve(doc):
    """Every ``lpft_theory.a.b`` named in a code span is an importable module or attribute."""
    bad = []
    for code in _code_texts(_markdown_of(doc)):
        for name in re.findall(r"\blpft_theory(?:\.[A-Za-z_]\w*)+", code):
            try:
                _resolve_dotted(name)
            except (ImportError, AttributeError):
                bad.append(name)
    assert not bad, f"{_id(doc)}: names that do not resolve: {sorted(set(bad))}"


# ---------------------------------------------------------------------------
# docstrings and the API pages


def _public_modules():
    import pkgutil

    import lpft_theory

    names = ["lpft_theory"]
    for info in pkgutil.walk_packages(lpft_theory.__path__, "lpft_theory."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def _module_ast(modname: str):
    spec = importlib.util.find_spec(modname)
    src = pathlib.Path(spec.origin).read_text(encoding="utf-8")
    return ast.parse(src), src.split("\n"), spec


def _attribute_documented(modname: str, name: str, depth: int = 0) -> bool:
    """A docstring right after ``name = ...`` or ``#:`` comments right above it, in the module that assigns
    it (following ``from .x import name``)."""
    tree, lines, spec = _module_ast(modname)
    # top-level statements, plus those of top-level ``if`` blocks (``if TYPE_CHECKING:`` imports of a lazy face)
    body = [n for top in tree.body for n in ([top] + (top.body if isinstance(top, ast.If) else []))]
    for i, node in enumerate(body):
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if name in targets:
            nxt = body[i + 1] if i + 1 < len(body) else None
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                return bool(nxt.value.value.strip())
            above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
            return above.startswith("#:") and bool(above[2:].strip())
        if isinstance(node, ast.ImportFrom) and depth < 5 and any((a.asname or a.name) == name for a in node.names):
            pkg = modname if spec.submodule_search_locations else modname.rsplit(".", 1)[0]
            src = importlib.util.resolve_name("." * node.level + (node.module or ""), pkg) if node.level else node.module
            real = next(a.name for a in node.names if (a.asname or a.name) == name)
            return _attribute_documented(src, real, depth + 1)
    return False


def _all_exports():
    out = []
    for modname in _public_modules():
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", ()):
            out.append((modname, name))
    return out


EXPORTS = _all_exports()


def _has_docstring(modname: str, name: str) -> bool:
    import inspect

    obj = getattr(importlib.import_module(modname), name)
    if inspect.ismodule(obj) or inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj):
        return bool((obj.__doc__ or "").strip())
    return _attribute_documented(modname, name)


@pytest.mark.parametrize(
    "modname,name",
    [pytest.param(m, n, marks=pytest.mark.xfail(strict=True, reason=PENDING[f"{m}.{n}"]))
     if f"{m}.{n}" in PENDING else (m, n) for m, n in EXPORTS],
    ids=[f"{m}.{n}" for m, n in EXPORTS],
)
def test_public_name_has_docstring(modname, name):
    assert _has_docstring(modname, name), (
        f"{modname}.{name} is in __all__ but has no docstring (a string right after an assignment or a '#:' "
        f"comment above it counts for constants)")


def test_every_face_has_a_module_docstring():
    for modname in _public_modules():
        assert (importlib.import_module(modname).__doc__ or "").strip(), f"module {modname} has no docstring"


def _api_directives():
    """{identifier: members list or None} from the ``::: identifier`` blocks of ``docs/api/*.md``."""
    out = {}
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        lines = page.read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"^:::\s+(\S+)\s*$", line)
            if not m:
                continue
            members, j = None, i + 1
            while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
                if re.match(r"^\s+members:\s*$", lines[j]):
                    members = []
                elif members is not None and re.match(r"^\s+-\s+\S+", lines[j]):
                    members.append(lines[j].strip()[1:].strip())
                elif not lines[j].strip() and j + 1 < len(lines) and not lines[j + 1].startswith(" "):
                    break
                j += 1
            out[m.group(1)] = members
    return out


def test_api_pages_list_every_public_module_and_name():
    directives = _api_directives()
    missing_modules = [m for m in _public_modules() if m not in directives and not m.endswith("__main__")]
    assert not missing_modules, f"public modules without a '::: module' block in docs/api/: {missing_modules}"
    missing = []
    for modname, name in EXPORTS:
        members = directives.get(modname)
        listed = f"{modname}.{name}" in directives or (modname in directives and (members is None or name in members))
        if not listed and f"{modname}.{name}" not in PENDING:
            missing.append(f"{modname}.{name}")
    assert not missing, f"public names not on an API page: {missing}"


# ---------------------------------------------------------------------------
# mkdocs


def _require_mkdocs():
    for mod in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter", "griffe"):
        pytest.importorskip(mod, reason=f"the docs extra is not installed ({mod} missing): pip install -e '.[docs]'")


def _mkdocs_build(cwd: pathlib.Path, site: pathlib.Path):
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=600)


def test_mkdocs_build_strict(tmp_path):
    _require_mkdocs()
    r = _mkdocs_build(ROOT, tmp_path / "site")
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}"
    site = tmp_path / "site"
    for page in ("index.html", "installation/index.html", "theory/index.html", "results/index.html",
                 "figures/index.html", "figures/toy_2d.png", "notebooks/index.html", "api/index.html",
                 *(f"notebooks/{nb.stem}/index.html" for nb in NOTEBOOKS)):
        assert (site / page).is_file(), f"{page} missing from the built site"
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("Problem", "simulate", "trajectory_metrics"):
        assert f'id="lpft_theory.{name}"' in api, f"lpft_theory.{name} not rendered on the API index"
    assert ":math:`" not in (site / "api" / "engine" / "index.html").read_text(encoding="utf-8")


def _copy_for_build(dst: pathlib.Path) -> None:
    for name in ("README.md", "BENCHMARKS.md", "LICENSE", "CITATION.cff", "mkdocs.yml"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]", ".ipynb_checkpoints")
    for name in ("docs", "figures", "lpft_theory"):
        shutil.copytree(ROOT / name, dst / name, ignore=ignore)
    (dst / "notebooks").mkdir()
    for p in [ROOT / "notebooks" / "README.md", *NOTEBOOKS]:
        shutil.copy2(p, dst / "notebooks" / p.name)


def test_mkdocs_strict_fails_on_broken_link_and_missing_docstring(tmp_path):
    """The same build on a copy with one broken link and one undocumented public function must fail, naming both."""
    _require_mkdocs()
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_for_build(repo)
    with open(repo / "docs" / "installation.md", "a", encoding="utf-8") as f:
        f.write("\nSee [a page that does not exist](no_such_page.md).\n")
    init = repo / "lpft_theory" / "scale" / "__init__.py"
    src = init.read_text(encoding="utf-8")
    assert "__all__ = [" in src
    src = src.replace("__all__ = [", '__all__ = ["undocumented_probe", ', 1) + "\n\ndef undocumented_probe():\n    pass\n"
    init.write_text(src, encoding="utf-8")
    r = _mkdocs_build(repo, tmp_path / "site")
    out = r.stdout + r.stderr
    assert r.returncode != 0, f"mkdocs build --strict passed despite a broken link and a missing docstring:\n{out[-4000:]}"
    assert "no_such_page.md" in out, out[-4000:]
    assert "lpft_theory.scale.undocumented_probe" in out, out[-4000:]


# ---------------------------------------------------------------------------
# commands


def _command_lines(text: str) -> list[str]:
    """``lpft-theory ...`` command lines in code spans and code blocks (comments and continuations removed)."""
    out = []
    for code in _code_texts(text):
        code = code.replace("\\\n", " ")
        for line in code.split("\n"):
            for part in re.split(r"&&|;|\|", line.split(" # ")[0].split("\t#")[0]):
                part = part.strip()
                if part.startswith("lpft-theory"):
                    out.append(part)
    return out


@pytest.mark.parametrize("doc", MARKDOWN + NOTEBOOKS, ids=_id)
def test_documented_commands_parse(doc):
    """Every printed ``lpft-theory`` command line is accepted by the parser (placeholders excepted)."""
    from lpft_theory.cli.main import build_parser

    parser = build_parser()
    bad = []
    for line in _command_lines(_markdown_of(doc)):
        if re.search(r"\[|\bCMD\b|<|\.\.\.|…|\bNN\b", line):
            continue
        argv = shlex.split(line)[1:]
        if argv in (["--help"], ["-h"]) or "--help" in argv:
            continue
        try:
            parser.parse_args(argv)
        except Exception as e:  # UsageError or SystemExit
            bad.append(f"{line}: {e}")
    assert not bad, f"{_id(doc)}: commands the parser rejects:\n" + "\n".join(bad)


def _readme_python_blocks():
    _, blocks = _strip_fences(README.read_text(encoding="utf-8"))
    return [b for info, b in blocks if info == "python"]


def test_readme_quickstart_is_short_and_runs(tmp_path):
    """The README's Python quickstart (≤ 10 lines) runs as printed, from an unrelated folder."""
    blocks = _readme_python_blocks()
    assert blocks, "README.md has no ```python block"
    code = blocks[0]
    assert len(code.strip().split("\n")) <= 10, "the quickstart must be at most ten lines"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    printed = dict(line.split(" ", 1) for line in r.stdout.strip().split("\n"))
    assert set(printed) == {"lp", "ft", "lpft"}, r.stdout


def _readme_quick_commands():
    """The README's ``lpft-theory`` commands that run in seconds (not reproduce, which has its own tests, and not
    the full ``bound-study --k1`` replay, about a minute: ``tests/cli/test_bound_study.py`` runs it, marked slow)."""
    return [c for c in _command_lines(README.read_text(encoding="utf-8"))
            if "reproduce" not in c and "bound-study" not in c]


def test_readme_quick_commands_run(tmp_path):
    cmds = _readme_quick_commands()
    assert any(c.split()[1:] == ["--help"] for c in cmds), "README.md should show `lpft-theory --help`"
    for cmd in cmds:
        argv = [sys.executable, "-m", "lpft_theory.cli.main", *shlex.split(cmd)[1:]]
        r = subprocess.run(argv, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{cmd}\n{r.stderr[-4000:]}"
        if "--json" in cmd:
            json.loads(r.stdout)


def test_readme_test_command_is_the_ci_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_cmd = [line.strip() for line in ci.split("\n") if line.strip().startswith("pip install -e")]
    assert len(ci_cmd) == 1, ci_cmd
    _, blocks = _strip_fences(README.read_text(encoding="utf-8"))
    readme_cmds = [line.split("#")[0].strip() for _, b in blocks for line in b.split("\n")]
    assert ci_cmd[0] in readme_cmds, f"README.md must show the CI test command {ci_cmd[0]!r} exactly"


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").rstrip("\n").split("\n"))
    assert n <= 150, f"README.md has {n} lines (at most 150)"


def test_readme_architecture_tree_matches_the_package():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    _, blocks = _strip_fences(section)
    tree = blocks[0][1]
    listed = {}
    for line in tree.split("\n"):
        m = re.match(r"^  (\w+\.py|\w+/)\s+(.*)$", line)
        if m:
            listed[m.group(1)] = m.group(2)
    pkg = ROOT / "lpft_theory"
    actual = {p.name for p in pkg.glob("*.py") if not p.name.startswith("_")}
    actual |= {p.name + "/" for p in pkg.iterdir() if (p / "__init__.py").exists()}
    assert set(listed) == actual, f"README tree vs package: missing {sorted(actual - set(listed))}, " \
                                  f"extra {sorted(set(listed) - actual)}"
    for sub, desc in listed.items():
        if not sub.endswith("/"):
            continue
        modules = {p.stem for p in (pkg / sub).glob("*.py") if not p.name.startswith("_")}
        names = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", desc.rsplit(":", 1)[-1]))
        named = names & modules
        if sub == "cli/":
            assert {"main", "common"} <= named, desc
        else:
            assert named == modules, f"{sub}: README lists {sorted(named)}, package has {sorted(modules)}"


# ---------------------------------------------------------------------------
# reproduce -> docs/results.md


def _canned_claim_rows():
    return [dict(statement="S-perp features frozen", reference="Lemma A.3 [final]", simulated="canned", n=3,
                 verdict="holds (canned)", worst_margin=1e-8, margin_meaning="canned margin", details={}),
            dict(statement="FT lower bound (final-thm-3.3)", reference="final Thm 3.3", simulated="canned", n=24,
                 verdict="holds in all 24 applicable", worst_margin=0.25, margin_meaning="observed - bound",
                 details={})]


def _canned_compare_rows():
    import math

    from lpft_theory.compare import COLUMNS

    rows = []
    for method, ood in (("lp", 1e-3), ("ft", 8.8), ("lpft", 1e-3)):
        for t in (0.0, math.inf):
            row = {c: 0.5 for c in COLUMNS}
            row.update(method=method, t=t, ood_loss=ood, num_steps=7)
            rows.append(row)
    return rows


@pytest.fixture
def shortcut(monkeypatch):
    """``reproduce`` with its three expensive parts (simulations) replaced by canned rows; everything after
    them (tables, claims.md/json, the docs blocks, the atomic writes) runs for real. The tests run it with
    ``--workers 1``: a replaced function exists only in this process (the worker processes are tested by
    ``test_reproduce_quick_end_to_end_writes_docs`` and ``tests/figures``)."""
    import lpft_theory.cli.reproduce as rep
    import lpft_theory.figures.registry as registry
    import lpft_theory.theory.claims as claims

    calls = []
    monkeypatch.setattr(rep, "compare_methods", lambda problem, times: (calls.append("compare"), _canned_compare_rows())[1])
    monkeypatch.setattr(registry, "generate", lambda out, quick=False, log=None, **kw: (calls.append("figures"), [])[1])
    monkeypatch.setattr(claims, "run_claims", lambda quick=False, workers=None: (calls.append("claims"), _canned_claim_rows())[1])
    return calls


def _blocks(text):
    return dict(re.findall(r"<!-- BEGIN GENERATED: (\S+) -->\n(.*?)<!-- END GENERATED -->", text, re.S))


def _prose(text):
    return re.sub(r"(<!-- BEGIN GENERATED: \S+ -->).*?(<!-- END GENERATED -->)", r"\1\2", text, flags=re.S)


def test_reproduce_writes_generated_blocks_and_keeps_prose(tmp_path, shortcut, capsys):
    from lpft_theory.cli.main import main
    from lpft_theory.theory.claims import format_claims_table

    docs = tmp_path / "docs"
    docs.mkdir()
    original = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    (docs / "results.md").write_text(original, encoding="utf-8")
    rc = main(["reproduce", "--workers", "1", "--quick", "--figures", str(tmp_path / "fig"), "--report", str(tmp_path / "rep"),
               "--docs", str(docs)])
    assert rc == 0 and shortcut == ["compare", "figures", "claims"]
    new = (docs / "results.md").read_text(encoding="utf-8")
    assert _prose(new) == _prose(original), "prose outside the generated blocks changed"
    blocks = _blocks(new)
    assert set(blocks) == {"compare", "claims"}
    assert format_claims_table(_canned_claim_rows()) in blocks["claims"]
    assert "reproduce --quick" in blocks["claims"]
    assert "8.800e+00" in blocks["compare"]
    assert (tmp_path / "rep" / "claims.md").read_text(encoding="utf-8").strip() == format_claims_table(_canned_claim_rows())
    assert json.loads((tmp_path / "rep" / "claims.json").read_text(encoding="utf-8"))["quick"] is True
    # running again changes nothing; no temporary files are left behind
    main(["reproduce", "--workers", "1", "--quick", "--figures", str(tmp_path / "fig"), "--report", str(tmp_path / "rep"), "--docs", str(docs)])
    assert (docs / "results.md").read_text(encoding="utf-8") == new
    assert sorted(p.name for p in docs.iterdir()) == ["results.md"]


def test_reproduce_quick_leaves_docs_alone_by_default(tmp_path, shortcut, monkeypatch):
    from lpft_theory.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text("# R\n\n<!-- BEGIN GENERATED: claims -->\nold\n<!-- END GENERATED -->\n")
    assert main(["reproduce", "--workers", "1", "--quick", "--figures", "fig", "--report", "rep"]) == 0
    assert "old" in (tmp_path / "docs" / "results.md").read_text()
    # without --quick the default docs/ folder is used; a missing results.md is created
    (tmp_path / "docs" / "results.md").unlink()
    assert main(["reproduce", "--workers", "1", "--figures", "fig", "--report", "rep"]) == 0
    assert set(_blocks((tmp_path / "docs" / "results.md").read_text())) == {"compare", "claims"}


@pytest.mark.parametrize("bad", [
    "<!-- BEGIN GENERATED: claims -->\nno end\n",
    "stray <!-- END GENERATED -->\n",
    "<!-- BEGIN GENERATED: nonsense -->\n<!-- END GENERATED -->\n",
])
def test_reproduce_refuses_malformed_markers_before_any_work(tmp_path, shortcut, capsys, bad):
    from lpft_theory.cli.main import main

    (tmp_path / "results.md").write_text(bad)
    rc = main(["reproduce", "--workers", "1", "--quick", "--figures", str(tmp_path / "fig"), "--report", str(tmp_path / "rep"),
               "--docs", str(tmp_path)])
    assert rc == 2 and shortcut == []
    assert "results.md" in capsys.readouterr().err
    assert (tmp_path / "results.md").read_text() == bad


def test_committed_results_page_has_full_size_generated_blocks():
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    blocks = _blocks(text)
    assert set(blocks) == {"compare", "claims"}
    for name, body in blocks.items():
        assert "`lpft-theory reproduce` (full size)" in body, f"block {name} is not from a full-size reproduce run"
    assert "| statement | paper reference |" in blocks["claims"]


@pytest.mark.slow
def test_reproduce_quick_end_to_end_writes_docs(tmp_path):
    """The real ``lpft-theory reproduce --quick --docs DIR`` (no shortcut), as a subprocess."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy2(ROOT / "docs" / "results.md", docs / "results.md")
    r = subprocess.run([sys.executable, "-m", "lpft_theory.cli.main", "reproduce", "--quick", "--figures", "fig",
                        "--report", "rep", "--docs", str(docs), "--workers", "2"], cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "in worker processes, longest first" in r.stderr
    text = (docs / "results.md").read_text(encoding="utf-8")
    claims = json.loads((tmp_path / "rep" / "claims.json").read_text(encoding="utf-8"))["claims"]
    from lpft_theory.theory.claims import format_claims_table

    assert format_claims_table(claims) in _blocks(text)["claims"]
    assert _prose(text) == _prose((ROOT / "docs" / "results.md").read_text(encoding="utf-8"))
