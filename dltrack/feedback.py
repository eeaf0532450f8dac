"""What a student and an instructor get back: feedback pages, worked solutions, quiet grading.

nbgrader plug-ins, set in nbgrader_config.py:

- `OfflineHTMLExporter` writes HTML whose formulas are MathML, made when the page is made
  (no MathJax from a CDN, so a page read without internet shows its maths), whose long output
  lines wrap, and whose feedback summary names each exercise by the first line of its test's
  docstring instead of "Test cell". Also `jupyter nbconvert --to offline_html NOTEBOOK`.
- `stamp_hand_placed` writes the timestamp and the secret that `nbgrader submit` would have
  written, for a submission put in submitted/ by hand, so its grade has a time and
  `nbgrader release_feedback` finds what it reads.
- `HiddenTestChecksums` silences nbgrader's "checksum has changed" warning for a test cell
  that is exactly as released (the hidden tests nbgrader puts back change its checksum);
  a cell that differs from the release still warns.
"""
import datetime
import html
import logging
import os
import re
import secrets
import warnings
from pathlib import Path

import latex2mathml.converter
import nbformat
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

# ---------------------------------------------------------------- HTML that reads offline

WRAP_CSS = """<style type="text/css">
/* dltrack: long lines of output wrap instead of running off the page */
div.output_area pre, div.output_subarea pre, .jp-OutputArea-output pre, .jp-RenderedText pre {
  white-space: pre-wrap; overflow-wrap: anywhere;
}
math[display="block"] { margin: 0.6em 0; }
</style>
"""
MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
HEAD_END = re.compile(r"</head>", re.I)
TOC_ENTRY = re.compile(r'<a href="#([^"]+)">(Test cell|Written response|Coding free-response|Task)</a>')


def mathml(latex, display=False):
    """MathML for a LaTeX formula; the formula as plain text if it cannot be converted."""
    try:
        return latex2mathml.converter.convert(latex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a formula the converter does not know stays readable
        return f'<code class="tex">{html.escape(latex)}</code>'


class MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, with formulas turned into MathML instead of left for MathJax."""

    def inline_math(self, body):
        return mathml(body)

    def block_math(self, body):
        return mathml(body, display=True)

    def latex_environment(self, name, body):
        return mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


class OfflineHTMLExporter(HTMLExporter):
    """HTML that needs no network: MathML formulas, wrapped output lines, named exercises."""

    export_from_notebook = "HTML, offline maths"

    @pass_context
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        renderer = MathMLRenderer(
            escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options)
        return MarkdownWithMath(renderer=renderer).render(source)

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        output = MATHJAX.sub("", output)
        output = HEAD_END.sub(lambda m: WRAP_CSS + m.group(0), output, count=1)
        names = exercise_names(nb)
        output = TOC_ENTRY.sub(
            lambda m: f'<a href="#{m.group(1)}">{html.escape(names.get(m.group(1), m.group(1)))}</a>', output)
        return output, resources


def exercise_names(nb):
    """grade_id -> what a reader calls that graded cell: its docstring's first line, or its id."""
    names = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not meta.get("grade") or not grade_id:
            continue
        if cell.cell_type == "markdown":
            names[grade_id] = f"{grade_id}: written answer, graded by hand"
            continue
        first = re.match(r'\s*(?:[rbuRBU]?)("""|\'\'\')\s*(.*?)\s*(?:\1|\n)', cell.source)
        names[grade_id] = f"{first.group(2).rstrip('.')} ({grade_id})" if first and first.group(2) else grade_id
    return names


# ---------------------------------------------------------------- submissions put in place by hand

def stamp_hand_placed(assignment, student, notebooks):
    """A pre_convert_hook: give a hand-placed submission the files `nbgrader submit` writes.

    timestamp.txt gets the time the newest submitted notebook was last changed (nbgrader's
    format, UTC); submission_secret.txt a fresh secret. Files already there are kept.
    """
    if not notebooks:
        return
    folder = Path(notebooks[0]).parent  # submitted/<student>/<assignment>
    newest = max(Path(n).stat().st_mtime for n in notebooks)
    when = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)
    _create(folder / "timestamp.txt", when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    _create(folder / "submission_secret.txt", secrets.token_hex(64))


def _create(path, text):
    """Write a new file; leave whatever is at `path` already, a link included, untouched."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(text)


def chain_hooks(*hooks):
    """One hook that calls each of `hooks` (None skipped) in turn, with the same arguments."""
    hooks = [h for h in hooks if h is not None]

    def run(**kwargs):
        for hook in hooks:
            hook(**kwargs)
    return run


# ---------------------------------------------------------------- quiet grading

class HiddenTestChecksums(logging.Filter):
    """Drop "Attribute 'checksum' for cell X has changed!" when cell X is exactly as released.

    nbgrader stores a test cell's checksum with its hidden tests in, and the released cell
    without them, so every untouched test cell with hidden tests would warn. The released
    checksums are in the cells' metadata of release/<assignment>/*.ipynb under `root`.
    """

    def __init__(self, root=".", name=""):
        super().__init__(name)
        self.root = Path(root)

    def released(self, grade_id):
        found = set()
        for path in self.root.glob("release/*/*.ipynb"):
            try:
                nb = nbformat.read(path, 4)
            except Exception:  # noqa: BLE001 - an unreadable release hides nothing
                continue
            found |= {c.metadata["nbgrader"].get("checksum") for c in nb.cells
                      if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id}
        return found

    def filter(self, record):
        if record.msg.startswith("Attribute '%s' for cell %s has changed!") and len(record.args) == 4:
            attr, grade_id, _, new = record.args
            if attr == "checksum" and new in self.released(grade_id):
                return False
        return True


def logging_config(root):
    """traitlets' Application.logging_config that puts `HiddenTestChecksums` on the console."""
    return {"filters": {"hidden_test_checksums": {"()": HiddenTestChecksums, "root": str(root)}},
            "handlers": {"console": {"filters": ["hidden_test_checksums"]}}}


def quiet_gradebook_warnings():
    """nbgrader's Gradebook creates a submission's rows before adding them to the session, which
    SQLAlchemy 2 reports as a SAWarning each time (harmless: they are added just after)."""
    warnings.filterwarnings("ignore", message=r".* not in session, add operation along .*",
                            module=r"nbgrader\.api")
