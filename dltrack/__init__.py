"""Helpers for the Deep Learning Track: checks, the mistake catalog, gradients, plots, grading."""
import sys

# jsonschema imports rfc3987_syntax, when it is installed, for one format check ("iri") that nothing
# here makes: nbformat validates notebooks without format checks. The import builds 38 parsers, 1 s
# of CPU in every process that reads a notebook (each nbgrader command, each Dask worker); without
# it, jsonschema leaves that one format unchecked. Import dltrack before nbformat to leave it out.
sys.modules.setdefault("rfc3987_syntax", None)
