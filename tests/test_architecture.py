"""The structure of docs/architecture.md, checked: no import circles, one owner per fact.

`make lint` runs the layer contracts (import-linter, in pyproject.toml); these tests add what
a contract cannot say: no circle between any two modules, and the facts with one writer.
(No import hidden inside a function is ruff's rule PLC0415, also in `make lint`.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "inventory", "orders", "notifications")


def _modules() -> dict[str, ast.Module]:
    trees = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts or "settings" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            trees[name.removesuffix(".__init__")] = ast.parse(path.read_text(), str(path))
    return trees


MODULES = _modules()


def test_no_two_modules_import_each_other_even_through_others():
    graph = grimp.build_graph(*PACKAGES)
    circles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if imported == importer or imported.startswith(f"{importer}."):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None and not importer.startswith(f"{imported}."):
                circles.append((importer, *back))
    assert circles == []


def _calls(tree: ast.AST, attribute: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == attribute
    ]


def test_row_locks_are_taken_only_in_inventory_locks():
    taking = {
        name: lines
        for name, tree in MODULES.items()
        if (lines := _calls(tree, "select_for_update")) and name != "inventory.locks"
    }
    assert taking == {}


def _writes_field(tree: ast.AST, field: str) -> list[int]:
    """Lines that assign `<x>.field = ...` or pass `field=` to an update or constructor."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            lines += [
                node.lineno
                for target in targets
                for part in ast.walk(target)
                if isinstance(part, ast.Attribute) and part.attr == field
            ]
        if isinstance(node, ast.Call):
            lines += [node.lineno for keyword in node.keywords if keyword.arg == field]
    return lines


def test_what_the_customer_was_told_has_one_writer():
    writers = {name for name, tree in MODULES.items() if _writes_field(tree, "notified_eta")}
    assert writers == {"orders.promises"}


def test_the_queue_order_of_a_line_is_written_by_placement_and_the_priority_service():
    writers = {name for name, tree in MODULES.items() if _writes_field(tree, "queue_priority")}
    assert writers == {"orders.allocating", "orders.services"}


def test_the_queue_s_length_has_one_writer():
    writers = {name for name, tree in MODULES.items() if _writes_field(tree, "waiting_units")}
    assert writers == {"inventory.ledger"}


def test_a_line_status_is_written_only_through_the_status_door():
    """Every `status=` given to an order-line write, and every `line.status = ...`, is in
    orders.lifecycle or passes on the status `line_change` derived (a variable, never a
    literal)."""
    literal_writes = []
    for name, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and name != "orders.lifecycle":
                literal_writes += [
                    (name, node.lineno)
                    for keyword in node.keywords
                    if keyword.arg == "status"
                    and isinstance(keyword.value, ast.Attribute)
                    and isinstance(keyword.value.value, ast.Attribute)
                    and keyword.value.value.attr == "Status"
                    and ast.unparse(keyword.value).startswith("OrderLine.Status")
                    and not _is_filter(node)
                ]
    assert literal_writes == []


def _is_filter(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr in {
        "filter",
        "exclude",
        "get",
        "count",
    }
