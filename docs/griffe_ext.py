"""A griffe extension for the API reference (named in ``mkdocs.yml``; not a page).

The package's docstrings use a few reStructuredText constructs, which mkdocstrings would print verbatim.
This extension rewrites them, in the loaded docstrings only (the source is not touched):

* ``:math:`x```  → ``$x$`` and a ``.. math:: x`` block (with its indented continuation lines) → ``$$ x $$``,
  rendered by ``pymdownx.arithmatex``;
* ``:func:`~a.b.c```, ``:class:``, ``:mod:``, ``:meth:``, ``:data:``, ``:attr:`` → inline code (``c`` for a
  leading ``~``, the full name otherwise);
* a paragraph ending in ``::`` (an rST literal block follows) → ``:``;

and it reads Sphinx-style ``#:`` comments placed right above a module- or class-level assignment as that
attribute's docstring, so documented constants appear in the reference.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|obj|exc|const):`(~?)([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_BLOCK = re.compile(r"^( *)\.\. math::[ \t]*(.*)$")


def _role(m):
    tilde, target = m.group(1), m.group(2).strip()
    if "<" in target and target.endswith(">"):  # :func:`text <target>`
        target = target[: target.index("<")].strip()
    return "`" + (target.rsplit(".", 1)[-1] if tilde else target) + "`"


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with the reStructuredText constructs above rewritten for Markdown."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = _MATH_BLOCK.match(lines[i])
        if not m:
            line = lines[i]
            if line.rstrip().endswith("::") and not line.strip() == "::":
                line = line.rstrip()[:-1]
            out.append(line)
            i += 1
            continue
        indent, body = m.group(1), [m.group(2)] if m.group(2).strip() else []
        i += 1
        while i < len(lines) and (lines[i].startswith(indent + " ") or (not lines[i].strip() and i + 1 < len(lines)
                                                                        and lines[i + 1].startswith(indent + "  "))):
            body.append(lines[i].strip())
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [indent + "$$", *(indent + b for b in body if b), indent + "$$"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    text = "\n".join(out)
    text = _MATH_ROLE.sub(lambda m: "$" + m.group(1).strip() + "$", text)
    return _ROLE.sub(_role, text)


def comment_docstring(obj) -> str | None:
    """The ``#:`` comment lines right above the assignment of attribute ``obj``, joined, or ``None``."""
    try:
        lines = obj.lines_collection[obj.filepath]
    except Exception:  # no source (compiled, builtin)
        return None
    if not obj.lineno:
        return None
    j, found = obj.lineno - 2, []
    while j >= 0 and lines[j].strip().startswith("#:"):
        found.append(lines[j].strip()[2:].strip())
        j -= 1
    return "\n".join(reversed(found)) or None


class RstToMarkdown(griffe.Extension):
    """Rewrite reStructuredText in docstrings for Markdown, and read ``#:`` comments as attribute docs."""

    def _fix(self, obj) -> None:
        if obj.is_alias:
            return
        if obj.docstring is None and obj.is_attribute:
            text = comment_docstring(obj)
            if text:
                obj.docstring = griffe.Docstring(text, lineno=obj.lineno, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)

    def on_instance(self, *, obj, **kwargs) -> None:  # noqa: D102
        self._fix(obj)
