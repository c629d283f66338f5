"""mkdocs hooks for the lpft_theory site (named in ``mkdocs.yml``; not a page).

1. **Repository files in the site.** mkdocs only serves files under ``docs/``. The README (as the home
   page), ``figures/`` (images, data and their captions page), the notebooks, ``BENCHMARKS.md``, ``LICENSE``
   and ``CITATION.cff`` live elsewhere in the repository, so :func:`on_files` adds them to the site under
   the names of :func:`site_name`. Markdown files link to each other by their *repository* paths (so the
   links also work on GitHub and in a checkout, and ``tests/test_docs.py`` checks them there);
   :func:`on_page_markdown` rewrites every relative link that points at a mirrored file into its site path,
   before mkdocs validates the links. A link to anything else outside ``docs/`` stays as it is, and
   ``mkdocs build --strict`` fails on it.
2. **Every public name documented.** :func:`on_pre_build` loads the package statically with griffe (no
   import, no JAX) and logs a warning, which ``--strict`` turns into a failure, for every name in the
   ``__all__`` of ``lpft_theory`` and of each of its modules whose object has no docstring, except the
   names in :data:`PENDING_DOCSTRINGS`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import re

try:
    from mkdocs.plugins import event_priority
    from mkdocs.structure.files import File
except ImportError:  # imported by tests/test_docs.py without the docs extra, for its lists only
    File = None

    def event_priority(priority):
        return lambda f: f

log = logging.getLogger("mkdocs.hooks.lpft_theory")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Repository files outside ``docs/`` that are part of the site: (glob on the repository path, site path
#: template; ``{path}`` is the repository path, ``{name}`` its last component).
MIRRORED = (
    ("README.md", "index.md"),
    ("BENCHMARKS.md", "benchmarks.md"),
    ("LICENSE", "LICENSE"),
    ("CITATION.cff", "CITATION.cff"),
    ("figures/README.md", "figures/README.md"),
    ("figures/*.png", "{path}"),
    ("figures/*.pdf", "{path}"),
    ("figures/*.json", "{path}"),
    ("notebooks/README.md", "notebooks/README.md"),
    ("notebooks/[0-9][0-9]_*.ipynb", "{path}"),
)

#: Public names known to lack a docstring, each with the reason it is tolerated for now. Their files are
#: being rewritten; the API pages do not list them, and ``tests/test_docs.py`` expects them to fail (strict
#: xfail), so the entry must go as soon as the docstring exists.
PENDING_DOCSTRINGS: dict = {}

_LINK = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_FENCE = re.compile(r"^(```|~~~)")


def site_name(repo_path: str) -> str | None:
    """The site path (relative to the site's docs root) of the repository file ``repo_path``, or ``None``
    when the file is not part of the site. Files under ``docs/`` keep their path below ``docs/``."""
    repo_path = repo_path.replace(os.sep, "/")
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/"):]
    for pattern, template in MIRRORED:
        if fnmatch.fnmatchcase(repo_path, pattern):
            return template.format(path=repo_path, name=posixpath.basename(repo_path))
    return None


def mirrored_files() -> dict:
    """``{site path: repository path}`` for every existing repository file that :data:`MIRRORED` names."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT).replace(os.sep, "/")
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and rel_dir == "." and d in ("figures", "notebooks")]
        for f in filenames:
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            name = site_name(rel)
            if name is not None and not rel.startswith("docs/"):
                out[name] = rel
    return out


def rewrite_links(markdown: str, repo_path: str, site_path: str) -> str:
    """Rewrite the relative Markdown links of a page stored at ``repo_path`` (served as ``site_path``) whose
    targets are mirrored repository files into links between site paths. Code blocks are left alone."""
    here = posixpath.dirname(repo_path)
    site_dir = posixpath.dirname(site_path)

    def fix(m):
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path, sep, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(here, path)) if path else repo_path
        name = site_name(resolved)
        if name is None or resolved.startswith(".."):
            return m.group(0)
        new = posixpath.relpath(name, site_dir or ".") if path else ""
        return m.group(1) + new + sep + anchor + m.group(3)

    out, fenced = [], False
    for line in markdown.split("\n"):
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            out.append(line)
            continue
        if fenced:
            out.append(line)
            continue
        # leave inline code spans untouched
        parts = re.split(r"(`+[^`]*`+)", line)
        out.append("".join(p if p.startswith("`") else _LINK.sub(fix, p) for p in parts))
    return "\n".join(out)


_REPO_PATH_OF = {}  # site path -> repository path, for the mirrored files


def on_config(config):
    # `mkdocs serve` rebuilds when the mirrored files or the docstrings change
    config.watch.extend(os.path.join(ROOT, p) for p in ("README.md", "BENCHMARKS.md", "figures", "notebooks", "lpft_theory"))
    return config


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files, config):
    _REPO_PATH_OF.clear()
    for name, rel in sorted(mirrored_files().items()):
        if files.get_file_from_path(name) is not None:
            log.warning(f"docs/{name} shadows the repository file {rel}; remove one of them")
            continue
        if name == rel:  # same path: a plain File rooted at the repository (mkdocs-jupyter needs src_dir)
            files.append(File(name, src_dir=ROOT, dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"]))
        else:
            files.append(File.generated(config, name, abs_src_path=os.path.join(ROOT, rel)))
        _REPO_PATH_OF[name] = rel
    return files


def on_page_markdown(markdown, page, config, files):
    site_path = page.file.src_uri
    repo_path = _REPO_PATH_OF.get(site_path, "docs/" + site_path)
    return rewrite_links(markdown, repo_path, site_path)


# ---------------------------------------------------------------------------
# every public name has a docstring


def undocumented_public_names(package: str = "lpft_theory") -> list:
    """Dotted names listed in an ``__all__`` of ``package`` or of one of its modules whose object has no
    (or an empty) docstring, found statically with griffe; a ``#:`` comment above an assignment counts
    (see ``docs/griffe_ext.py``). Names that do not resolve are reported too."""
    import sys

    import griffe

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        from griffe_ext import RstToMarkdown  # the extension the API pages use: it reads `#:` comments
    finally:
        sys.path.pop(0)
    pkg = griffe.load(package, search_paths=[ROOT], resolve_aliases=True, resolve_external=False,
                      extensions=griffe.load_extensions(RstToMarkdown()))
    missing, seen = [], set()

    def walk(mod):
        if mod.path in seen:
            return
        seen.add(mod.path)
        if mod.exports is not None:
            for name in mod.exports:
                name = name if isinstance(name, str) else getattr(name, "name", str(name))
                try:
                    obj = mod[name]
                    obj = obj.final_target if obj.is_alias else obj
                    doc = obj.docstring.value.strip() if obj.docstring else ""
                except Exception:  # unresolvable alias: report it as missing
                    doc = ""
                if not doc:
                    missing.append(f"{mod.path}.{name}")
        for sub in mod.modules.values():
            if not sub.is_alias:
                walk(sub)

    walk(pkg)
    return missing


def on_pre_build(config):
    for name in undocumented_public_names():
        if name in PENDING_DOCSTRINGS:
            log.info(f"public name {name} has no docstring (pending: {PENDING_DOCSTRINGS[name]})")
        else:
            log.warning(f"public name {name} has no docstring; write one (the API reference renders it)")
