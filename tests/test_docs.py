"""The documentation's promises, checked without building the site.

Every Python example runs, every page is in the site's navigation, and
the README links only inside the repository.

Each page's ```python blocks run in order in one fresh namespace, in this
process (TensorFlow is imported once for all pages), in a temporary
working directory. A block that cannot run here is marked by an HTML
comment on the line before it (blank lines between are allowed) that
says why:

    <!-- skip: needs a GPU -->

The site itself is built by CI (`mkdocs build --strict`), not here.
"""

import os
import re
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
README = os.path.join(ROOT, "README.md")

FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>.*)$")
SKIP = re.compile(r"^\s*<!--\s*skip:\s*(?P<reason>.*?)\s*-->\s*$")


def _pages():
    pages = [README]
    for directory, _, files in os.walk(DOCS):
        pages += [
            os.path.join(directory, f)
            for f in sorted(files)
            if f.endswith(".md")
        ]
    return sorted(pages, key=lambda p: (p != README, p))


def _name(page):
    return os.path.relpath(page, ROOT)


def fenced_blocks(text):
    """Every fenced block of a Markdown text.

    Returns:
        A list of `(line, language, code, skip)`: the line number of the
        opening fence (from 1), the fence's language (`python`, `text`,
        ...), the code dedented by the fence's indentation, and the skip
        marker's reason (`None` for a block to run, `""` for a marker
        without a reason).
    """
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        opened = FENCE_OPEN.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, fence = len(opened["indent"]), opened["fence"]
        language = (opened["info"].split() or [""])[0].lstrip(".").lower()
        start = i
        i += 1
        code = []
        while i < len(lines) and lines[i].strip() != fence:
            code.append(
                lines[i][indent:] if lines[i][:indent].isspace() else lines[i]
            )
            i += 1
        i += 1  # the closing fence
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = SKIP.match(lines[before]) if before >= 0 else None
        skip = marker["reason"] if marker else None
        blocks.append((start + 1, language, "\n".join(code) + "\n", skip))
    return blocks


def _read(page):
    with open(page, encoding="utf-8") as f:
        return f.read()


def _python_blocks(page):
    return [b for b in fenced_blocks(_read(page)) if b[1] in ("python", "py")]


PAGES_WITH_CODE = [p for p in _pages() if _python_blocks(p)]


def test_the_block_reader_finds_blocks_and_markers():
    text = (
        "```python\nx = 1\n```\n\n"
        "<!-- skip: needs a download -->\n\n"
        "```python\nimport nothing\n```\n"
        "```text\nnot code\n```\n"
        "- a list item\n\n    ```python\n    y = 2\n    ```\n"
    )
    blocks = fenced_blocks(text)
    assert [(b[1], b[2], b[3]) for b in blocks] == [
        ("python", "x = 1\n", None),
        ("python", "import nothing\n", "needs a download"),
        ("text", "not code\n", None),
        ("python", "y = 2\n", None),
    ]
    assert blocks[0][0] == 1


def test_the_readme_and_the_docs_have_examples():
    names = [_name(p) for p in PAGES_WITH_CODE]
    assert "README.md" in names
    assert any(name.startswith("docs") for name in names)


@pytest.mark.parametrize("page", _pages(), ids=_name)
def test_every_skipped_example_says_why(page):
    for line, language, _, skip in fenced_blocks(_read(page)):
        if skip is not None:
            assert skip, f"{_name(page)}:{line}: a skip marker without a reason"
            assert language in ("python", "py"), (
                f"{_name(page)}:{line}: a skip marker before a {language!r} "
                "block (only Python blocks run)"
            )


@pytest.fixture
def fresh_keras_state():
    """Each page starts from Keras's defaults and leaves them so."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_name)
def test_every_python_example_runs(
    page, tmp_path, monkeypatch, fresh_keras_state
):
    monkeypatch.chdir(tmp_path)
    # the examples' own `tempfile.mkdtemp()` directories go there too
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    namespace = {"__name__": "__docs__"}
    ran = 0
    for line, _, code, skip in _python_blocks(page):
        if skip is not None:
            continue
        where = f"{_name(page)}:{line}"
        exec(compile(code, where, "exec"), namespace)
        ran += 1
    assert ran, f"{_name(page)}: every example is skipped"


def _nav_pages():
    """The `.md` paths listed in mkdocs.yml's `nav`.

    Read as text: no YAML parser needed.
    """
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    start = lines.index("nav:")
    pages = []
    for line in lines[start + 1 :]:
        if line and not line[0].isspace():
            break  # the next top-level key
        found = re.search(r":\s*(\S+\.md)\s*$", line) or re.search(
            r"^\s*-\s*(\S+\.md)\s*$", line
        )
        if found:
            pages.append(found.group(1))
    return pages


def test_the_nav_lists_every_page_once():
    on_disk = sorted(
        os.path.relpath(p, DOCS).replace(os.sep, "/")
        for p in _pages()
        if p != README
    )
    nav = _nav_pages()
    assert sorted(set(nav)) == sorted(nav), "a page is in the nav twice"
    assert sorted(nav) == on_disk


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def test_the_readme_links_only_to_files_in_the_repository():
    for match in LINK.finditer(_read(README)):
        target = match["target"]
        assert "://" not in target and not target.startswith("mailto:"), (
            f"README.md links outside the repository: {target}"
        )
        path = target.split("#", 1)[0]
        if path:
            assert os.path.exists(os.path.join(ROOT, path)), (
                f"README.md links to a missing file: {target}"
            )
