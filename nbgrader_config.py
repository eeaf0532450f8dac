"""nbgrader configuration of the Deep Learning Track.

Every path comes from this file's own location, so a copy of the course
grades itself, never the original.
"""
import functools
import os

from nbgrader.preprocessors import (
    AssignLatePenalties, ClearHiddenTests, ClearMarkScheme, ClearOutput, CheckCellMetadata,
    GetGrades, IgnorePattern, IncludeHeaderFooter, LockCells, OverwriteCells, OverwriteKernelspec,
    SaveAutoGrades)
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor

from dltrack.nbplugins import (
    FailDeletedTests, HideHiddenTests, JudgedExecute, KeepDuplicatesGraded, LimitOutputSize, LocalWidgetsExecute,
    prepare_student)

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 - provided by traitlets

c.CourseDirectory.course_id = "dltrack"
c.CourseDirectory.root = here
c.CourseDirectory.solution_directory = "solutions"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]
# On a hub, the class's shared exchange (deploy/jupyterhub_config.py sets it); alone, exchange/ here.
c.Exchange.root = os.environ.get("DLTRACK_EXCHANGE") or os.path.join(here, "exchange")
c.Exchange.path_includes_course = True

# Hidden tests hold the reference's outputs, written in by nbgrader's AUTOTEST.
c.InstantiateTests.autotest_filename = os.path.join(here, "autotests.yml")

# Limits on a student's code: seconds a cell, memory a kernel, lines and characters of output a cell.
# Autograding runs each kernel in a sandbox (dltrack/sandbox.py; README, "What is and is not protected").
c.Execute.timeout = int(os.environ.get("DLTRACK_CELL_TIMEOUT", "60"))
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError", "evalue": "",
    "traceback": [f"\x1b[0;31mCellTimeoutError\x1b[0m: this cell ran longer than {c.Execute.timeout} s "
                  "and was stopped; it scores zero"]}
# Seconds a whole notebook may run when autograded; the cells not yet run then score zero.
c.JudgedExecute.notebook_budget = int(os.environ.get("DLTRACK_NOTEBOOK_BUDGET", "300"))
# What the judge found in each test cell, for `dltrack report` (dltrack/diagnosis.py).
c.JudgedExecute.diagnosis_dir = os.path.join(here, "diagnoses")
c.JudgedExecute.memory_limit = int(os.environ.get("DLTRACK_KERNEL_MEMORY_MB", "2048")) * 2**20
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60
c.LimitOutputSize.max_chars = 20_000

# A duplicated graded cell must not leave the student ungraded; a deleted test cell scores zero.
c.Autograde.sanitize_preprocessors = [
    ClearOutput, KeepDuplicatesGraded, OverwriteKernelspec, OverwriteCells, FailDeletedTests,
    CheckCellMetadata]
c.Autograde.autograde_preprocessors = [
    JudgedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutputSize, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata]
# Autograde stops before grading anyone when a grading kernel cannot import the checks; a notebook
# submitted under another name is graded, with a note, instead of stopping with an error.
c.Autograde.pre_convert_hook = functools.partial(prepare_student, here)

# Worked solutions and feedback never show the hidden tests.
c.GenerateSolution.preprocessors = [
    IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme, ClearHiddenTests, LocalWidgetsExecute]
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# In feedback and the Formgrader a slider's figure shows as the image saved beside the widget
# (dltrack.plots.explore): a widget there would need its saved state and a script from a CDN.
c.WidgetsDataTypeFilter.display_data_priority = [
    "application/javascript", "text/html", "text/markdown", "image/svg+xml", "text/vnd.mermaid",
    "text/latex", "image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json", "text/plain"]

# What a student and an instructor see (dltrack/feedback.py): feedback pages and worked solutions
# whose formulas are MathML (they read without internet), wrapped output lines, exercises named in
# the summary; a hand-placed submission gets the timestamp and secret `nbgrader submit` writes;
# no warning for a test cell that is exactly as released, nor SQLAlchemy's about nbgrader's gradebook.
from dltrack import feedback  # noqa: E402

c.GenerateFeedback.exporter_class = feedback.OfflineHTMLExporter
c.Autograde.pre_convert_hook = feedback.chain_hooks(feedback.stamp_hand_placed, c.Autograde.pre_convert_hook)
c.Application.logging_config = feedback.logging_config(here)
feedback.quiet_gradebook_warnings()
