"""A Griffe extension for the API reference: doctest lines as code.

The package's docstrings write their examples after an `Example:` line,
as `>>>` lines at the docstring's own indentation or indented under it.
Griffe reads `Example:` (unlike `Examples:`) as an admonition or as
plain text, whose Markdown turns `>>>` into nested block quotes and
`x["a"](b)` into a link. This extension wraps each run of doctest lines
(from a `>>>` line to the next blank line) in a fenced `pycon` block at
the run's own indentation before Griffe parses the docstring. Runs under
an `Examples:` section are left alone: Griffe renders those itself.

Loaded by `mkdocs.yml` (the mkdocstrings handler's `extensions`); it
changes only what the site shows, never the package.
"""

import griffe

FENCE = "```"


def _indent(line):
    return len(line) - len(line.lstrip())


def _under_examples_section(lines, index):
    """Whether line `index` is inside a Google-style `Examples:` section.

    It is when the nearest less indented line above it is that header.
    """
    indent = _indent(lines[index])
    for line in reversed(lines[:index]):
        if line.strip() and _indent(line) < indent:
            return line.strip().lower() == "examples:"
    return False


def fence_doctests(text):
    """`text` with each run of doctest lines fenced as pycon."""
    lines = text.splitlines()
    out = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(FENCE):
            in_fence = not in_fence
        if (
            not in_fence
            and line.lstrip().startswith(">>>")
            and not _under_examples_section(lines, i)
        ):
            margin = " " * _indent(line)
            out.append(margin + FENCE + "pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(margin + FENCE)
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fences the doctest lines of every docstring Griffe loads."""

    def on_instance(self, *, obj, **kwargs):
        """Rewrites `obj`'s docstring as Griffe creates the object."""
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
