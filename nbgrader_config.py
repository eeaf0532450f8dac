"""nbgrader configuration of the Deep Learning Track.

Every path comes from this file's own location, so a copy of the course
grades itself, never the original.
"""
import os

from nbgrader.preprocessors import (
    ClearHiddenTests, ClearMarkScheme, ClearOutput, CheckCellMetadata, Execute,
    GetGrades, IncludeHeaderFooter, LockCells, OverwriteCells, OverwriteKernelspec)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

from dltrack.nbplugins import HideHiddenTests, KeepDuplicatesGraded

here = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821 - provided by traitlets

c.CourseDirectory.course_id = "dltrack"
c.CourseDirectory.root = here
c.CourseDirectory.solution_directory = "solutions"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]
c.Exchange.root = os.path.join(here, "exchange")
c.Exchange.path_includes_course = True

# Hidden tests hold the reference's outputs, written in by nbgrader's AUTOTEST.
c.InstantiateTests.autotest_filename = os.path.join(here, "autotests.yml")

# Limits on a student's code: seconds a cell, lines of output a cell.
c.Execute.timeout = int(os.environ.get("DLTRACK_CELL_TIMEOUT", "60"))
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60

# A duplicated graded cell must not leave the student ungraded.
c.Autograde.sanitize_preprocessors = [
    ClearOutput, KeepDuplicatesGraded, OverwriteKernelspec, OverwriteCells, CheckCellMetadata]

# Worked solutions and feedback never show the hidden tests.
c.GenerateSolution.preprocessors = [
    IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme, ClearHiddenTests, Execute]
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
