"""Mutants of every solution region, made by a mutation-testing engine (mutmut's operators).

A mutant is the reference's solution cell with one small change inside a
`### BEGIN SOLUTION` region: an operator, a constant, a comparison, an argument
dropped or set to None, an augmented assignment made plain. To mutmut's own
operators this adds a few that NumPy code needs: `@` made `*`, a transpose
dropped, two arguments swapped, a term of a sum dropped, and `x = x - ...` made
`x -= ...` (a change in place). The tests of the tests grade every mutant
(dltrack.variants); one that keeps full marks is a hole in the tests, or is
listed as equivalent, with the reason, in the section's catalog.
"""
import hashlib
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper
from mutmut.mutation.file_mutation import MutationVisitor
from mutmut.mutation.mutators import mutation_operators
from mutmut.mutation.pragma_handling import IgnoredCode

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class Mutant:
    """One mutant of a solution cell: `code` is the whole cell with the change."""

    id: str        # <grade_id>-<8 hex digits>, stable while the changed line stays the same
    cell: str      # the grade_id of the solution cell
    line: int      # line of the cell that changed, from 1
    before: str    # that line, stripped
    after: str     # the line as the mutant has it, stripped
    code: str

    def describe(self):
        return f"line {self.line}: `{self.before}` -> `{self.after}`"


def _matmul_to_mul(node):
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
        yield node.with_changes(operator=cst.Multiply())


def _drop_transpose(node):
    if isinstance(node, cst.Attribute) and node.attr.value == "T":
        yield node.value


def _swap_arguments(node):
    positional = [a for a in node.args if not a.keyword and not a.star]
    if len(positional) >= 2:
        first, second = positional[0], positional[1]
        args = [second.with_changes(comma=first.comma) if a is first else
                first.with_changes(comma=second.comma) if a is second else a for a in node.args]
        yield node.with_changes(args=args)


def _drop_term(node):
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)):
        yield node.left
        if isinstance(node.operator, cst.Add):
            yield node.right


_IN_PLACE = {cst.Add: cst.AddAssign, cst.Subtract: cst.SubtractAssign, cst.Multiply: cst.MultiplyAssign,
             cst.Divide: cst.DivideAssign}


def _in_place(node):
    """`x = x - y` -> `x -= y`: the caller's array changed in place."""
    if len(node.targets) == 1 and isinstance(node.value, cst.BinaryOperation) \
            and type(node.value.operator) in _IN_PLACE \
            and node.targets[0].target.deep_equals(node.value.left):
        yield cst.AugAssign(target=node.targets[0].target, operator=_IN_PLACE[type(node.value.operator)](),
                            value=node.value.right, semicolon=node.semicolon)


OPERATORS = [*mutation_operators,
             (cst.BinaryOperation, _matmul_to_mul), (cst.Attribute, _drop_transpose),
             (cst.Call, _swap_arguments), (cst.BinaryOperation, _drop_term), (cst.Assign, _in_place)]


def region_lines(code):
    """Lines (from 1) inside the solution regions of a cell."""
    lines, inside = set(), False
    for number, line in enumerate(code.splitlines(), 1):
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside:
            lines.add(number)
    return lines


def of_cell(grade_id, code):
    """The mutants of one solution cell, each different code, in the order the engine made them."""
    module = cst.parse_module(code)
    wrapper = MetadataWrapper(module)
    visitor = MutationVisitor(OPERATORS, IgnoredCode(set(), set(), set()), region_lines(code))
    wrapper.visit(visitor)
    seen, out, ids = {code}, [], set()
    original = wrapper.module
    for mutation in visitor.mutations:
        try:
            changed = original.deep_replace(mutation.original_node, mutation.mutated_node).code
            compile(changed, "<mutant>", "exec")
        except Exception:  # noqa: BLE001 - a mutation that does not make Python is no mutant
            continue
        if changed in seen:
            continue
        seen.add(changed)
        mutant = _mutant(grade_id, code, changed, ids)
        ids.add(mutant.id)
        out.append(mutant)
    return out


def _mutant(grade_id, code, changed, taken):
    old, new = code.splitlines(), changed.splitlines()
    line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    before = old[line].strip() if line < len(old) else ""
    after = new[line].strip() if line < len(new) else ""
    if len(old) != len(new):  # a change over several lines: say so by its first line
        after += " ..."
    digest = hashlib.sha1(f"{grade_id}\n{before}\n{after}".encode()).hexdigest()[:8]
    ident, n = f"{grade_id}-{digest}", 1
    while ident in taken:  # the same change to the same line elsewhere in the cell
        n += 1
        ident = f"{grade_id}-{digest}-{n}"
    return Mutant(ident, grade_id, line + 1, before, after, changed)
