"""Preprocessors that nbgrader_config.py puts into nbgrader's own pipeline."""
import re

from nbgrader.preprocessors import ClearHiddenTests, DeduplicateIds

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class KeepDuplicatesGraded(DeduplicateIds):
    """DeduplicateIds that leaves a duplicated cell as a plain cell.

    nbgrader blanks the metadata of a duplicate to `{}`, which then fails
    validation and leaves the student ungraded (nbgrader issue 1083).
    """

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.metadata.get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


class HideHiddenTests(ClearHiddenTests):
    """Clear hidden tests from feedback: the cell input and any traceback line."""

    def preprocess_cell(self, cell, resources, index):
        hidden = _hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        if hidden:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [_without(chunk, hidden) for chunk in output["traceback"]]
        return super().preprocess_cell(cell, resources, index)


def _hidden_lines(source, begin, end):
    lines, inside = set(), False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            lines.add(line.strip())
    return lines


def _without(chunk, hidden):
    kept = [line for line in chunk.split("\n")
            if not any(h in ANSI.sub("", line) for h in hidden)]
    return "\n".join(kept)
