"""Every field of every event is bounded by where it is stored.

Bounds are derived, not listed: the columns come from the SQLAlchemy metadata of every table
(all of ``valora_db``'s modules), the fields from the events' JSON Schemas. A record produced
straight to Kafka with an id longer than its column, or a count beyond a 32-bit integer, is then
rejected when it is decoded (and dead-lettered with the field named), instead of failing every
insert and blocking its partition. Adding a column or a field without a bound fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest
import valora_db
from sqlalchemy import CheckConstraint, Integer, MetaData, SmallInteger, String, Table
from valora_contracts import INT32_MAX, event_types

pytestmark = pytest.mark.unit

INT64_MAX = 2**63 - 1


def _metadata() -> MetaData:
    for module in pkgutil.walk_packages(valora_db.__path__, prefix="valora_db."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    from valora_db.models import Base

    return Base.metadata


_IN_LIST = re.compile(r"^\s*(\w+)\s+IN\s*\((.*)\)\s*$", re.IGNORECASE)


def _enumerated(table: Table) -> set[str]:
    """Columns a CHECK constraint limits to a list of values (``col IN ('a', 'b')``): only
    enumerations can land there, whatever a free-text field of the same name elsewhere holds."""
    names = set()
    for constraint in table.constraints:
        if isinstance(constraint, CheckConstraint):
            match = _IN_LIST.match(str(constraint.sqltext))
            if match:
                names.add(match.group(1))
    return names


def _columns() -> tuple[dict[str, list[tuple[str, int]]], dict[str, list[str]]]:
    """Name -> [(table, length)] of bounded free-text columns; name -> [table] of int32
    columns."""
    text: dict[str, list[tuple[str, int]]] = {}
    ints: dict[str, list[str]] = {}
    for table in _metadata().sorted_tables:
        enumerated = _enumerated(table)
        for column in table.columns:
            kind = column.type
            if column.name in enumerated:
                continue
            if isinstance(kind, String) and kind.length:
                text.setdefault(column.name, []).append((table.name, kind.length))
            elif type(kind) in (Integer, SmallInteger):
                ints.setdefault(column.name, []).append(table.name)
    return text, ints


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _leaves(node: dict[str, Any], defs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The concrete alternatives of a (possibly optional or referenced) schema."""
    node = _resolve(node, defs)
    alternatives = node.get("anyOf") or node.get("oneOf")
    if alternatives:
        for alternative in alternatives:
            yield from _leaves(alternative, defs)
    else:
        yield node


def _fields() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, field name, leaf schema) of every property of every event, nested included."""
    for event in event_types().values():
        schema = event.model_json_schema(mode="validation")
        defs = schema.get("$defs", {})
        todo = [(event.__name__, schema)]
        seen: set[str] = set()
        while todo:
            where, model = todo.pop()
            if where in seen:
                continue
            seen.add(where)
            for name, prop in model.get("properties", {}).items():
                for leaf in _leaves(prop, defs):
                    if leaf.get("type") == "array":
                        for item in _leaves(leaf.get("items", {}), defs):
                            yield f"{where}.{name}[]", name, item
                            if "properties" in item:
                                todo.append((f"{where}.{name}[]", item))
                        continue
                    yield f"{where}.{name}", name, leaf
                    if "properties" in leaf:
                        todo.append((f"{where}.{name}", leaf))


def _is_free_text(leaf: dict[str, Any]) -> bool:
    return (
        leaf.get("type") == "string"
        and "enum" not in leaf
        and "const" not in leaf
        and leaf.get("format") not in ("date-time", "date")
    )


def test_every_text_field_of_every_event_has_a_maximum_length() -> None:
    unbounded = sorted(
        w for w, _, leaf in _fields() if _is_free_text(leaf) and "maxLength" not in leaf
    )
    assert unbounded == []


def test_every_integer_field_of_every_event_has_both_bounds() -> None:
    unbounded = sorted(
        w
        for w, _, leaf in _fields()
        if leaf.get("type") == "integer"
        and (
            "minimum" not in leaf
            or ("maximum" not in leaf and "exclusiveMaximum" not in leaf)
            or leaf.get("maximum", 0) > INT64_MAX
        )
    )
    assert unbounded == []


def test_every_text_field_fits_every_column_of_its_name() -> None:
    text, _ = _columns()
    too_long = []
    for where, name, leaf in _fields():
        for table, length in text.get(name, []):
            if _is_free_text(leaf) and leaf.get("maxLength", 10**9) > length:
                too_long.append(
                    f"{where} (max {leaf.get('maxLength')}) > {table}.{name} ({length})"
                )
            for value in leaf.get("enum", []):
                if isinstance(value, str) and len(value) > length:
                    too_long.append(f"{where} value {value!r} > {table}.{name} ({length})")
    assert too_long == []


def test_every_integer_field_fits_every_32_bit_column_of_its_name() -> None:
    _, ints = _columns()
    too_big = [
        f"{where} (max {leaf.get('maximum')}) > {table}.{name}"
        for where, name, leaf in _fields()
        if leaf.get("type") == "integer"
        for table in ints.get(name, [])
        if leaf.get("maximum", INT64_MAX) > INT32_MAX
        or leaf.get("minimum", -INT64_MAX) < -INT32_MAX
    ]
    assert too_big == []


def test_the_bound_checks_see_the_stored_columns() -> None:
    """The derivation itself: it finds the columns the issue named, so the checks above run."""
    text, ints = _columns()
    assert "source" in _enumerated(_metadata().tables["predictions"])
    assert ("training_requests", 64) in text["request_id"]
    assert ("training_requests", 200) in text["requested_by"]
    assert "training_requests" in ints["trials"]
    names = {name for _, name, _ in _fields()}
    assert {"request_id", "requested_by", "trials", "model_name", "listing_id"} <= names
