"""The report's one data model, and its Markdown and HTML renderings.

A `Document` is a title, an introduction and `Section`s, each with an
optional `Table` (a header and rows of cell strings), an optional PNG
figure and optional paragraphs of prose (`read_notes`). `to_markdown`
and `to_html` render the same document, so the two files always say the
same thing.

Example:
>>> doc = Document("Report", "Two runs.", [
...     Section("Accuracy", "Test accuracy.",
...             table=Table(["order", "accuracy"], [["swap", "92.1"]]))])
>>> print(to_markdown(doc))
# Report
<BLANKLINE>
Two runs.
<BLANKLINE>
## Accuracy
<BLANKLINE>
Test accuracy.
<BLANKLINE>
| order | accuracy |
|---|---|
| swap | 92.1 |
<BLANKLINE>
"""

import base64
import dataclasses
import html
import math
import os
import re

from bnorder_tf.errors import ConfigError


@dataclasses.dataclass
class Table:
    """A table of strings.

    Attributes:
        header: the column names.
        rows: lists of cell strings, one per row, as long as `header`.
    """

    header: list
    rows: list


@dataclasses.dataclass
class Section:
    """One titled part of a report.

    Attributes:
        title: the heading.
        caption: a sentence saying what the table or figure shows.
        table: an optional `Table`.
        image: an optional path of a PNG figure.
        paragraphs: optional paragraphs of prose, after the caption.
    """

    title: str
    caption: str
    table: Table = None
    image: str = None
    paragraphs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Document:
    """A whole report: `title`, `intro` and `sections`.

    `intro` may hold several paragraphs, separated by a blank line.
    """

    title: str
    intro: str
    sections: list


def number_cell(value, spec):
    """`value` formatted by `spec`, or "—" when it is not defined (NaN)."""
    return "—" if math.isnan(value) else format(value, spec)


def mean_std_cell(stat, digits=2, scale=1.0, missing="—"):
    """A `(mean, std, n)` of `significance.mean_std` as `m ± s (n=k)`.

    Args:
        stat: the tuple, or `None` when no run has a value.
        digits: decimals of the mean and the standard deviation.
        scale: what both are multiplied by first (100 for percent).
        missing: the text for `None`.

    Returns:
        The text.
    """
    if stat is None:
        return missing
    mean, std, n = stat
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f} (n={n})"


def markdown_table(table):
    """A `Table` as Markdown.

    Args:
        table: a `Table`.

    Returns:
        The Markdown table, lines joined by newlines; a `|` inside a cell
        (as in "mean |x|") is escaped.
    """

    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [line(table.header), "|" + "---|" * len(table.header)]
    lines += [line(row) for row in table.rows]
    return "\n".join(lines)


def _html_table(table):
    cells = "".join(f"<th>{html.escape(c)}</th>" for c in table.header)
    out = [f"<table><tr>{cells}</tr>"]
    for row in table.rows:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row)
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def to_markdown(document):
    """The document as Markdown.

    Figures are linked by file name, so the Markdown file belongs beside
    them.

    Args:
        document: a `Document`.

    Returns:
        The Markdown text.
    """
    md = [f"# {document.title}", ""]
    for paragraph in document.intro.split("\n\n"):
        md += [paragraph, ""]
    for section in document.sections:
        md += [f"## {section.title}", ""]
        for text in [section.caption, *section.paragraphs]:
            md += [text, ""] if text else []
        if section.table:
            md += [markdown_table(section.table), ""]
        if section.image:
            name = os.path.basename(section.image)
            md += [f"![{section.title}]({name})", ""]
    return "\n".join(md)


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:4px 8px}img{max-width:100%}"
)


def to_html(document):
    """The document as one self-contained HTML page (figures embedded).

    Args:
        document: a `Document`.

    Returns:
        The HTML text.
    """
    body = [
        f"<h1>{html.escape(document.title)}</h1>",
        *(f"<p>{html.escape(p)}</p>" for p in document.intro.split("\n\n")),
    ]
    for section in document.sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.table:
            body.append(_html_table(section.table))
        if section.image:
            with open(section.image, "rb") as f:
                data = base64.b64encode(f.read()).decode("ascii")
            body.append(
                f'<img alt="{html.escape(section.title)}" '
                f'src="data:image/png;base64,{data}">'
            )
        if section.caption:
            body.append(f"<p><em>{html.escape(section.caption)}</em></p>")
        body += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(document.title)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )


def read_notes(path):
    """Sections of prose from a Markdown file.

    Each `## Title` line starts a section, and its text, in paragraphs
    separated by blank lines, follows.

    Args:
        path: the file's path.

    Returns:
        A list of `Section`s with a title and paragraphs.

    Raises:
        ConfigError: no such file, or text before the first heading.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"--notes: there is no file {path}.") from None
    sections = []
    for block in re.split(r"\n\s*\n", text.strip()) if text.strip() else []:
        lines = block.splitlines()
        if lines[0].startswith("## "):
            sections.append(Section(lines[0][3:].strip(), ""))
            lines = lines[1:]
        if lines and not sections:
            raise ConfigError(
                f"--notes: {path} has text before its first '## ' heading; "
                "start each section with a '## Title' line."
            )
        if lines:
            sections[-1].paragraphs.append(" ".join(s.strip() for s in lines))
    return sections
