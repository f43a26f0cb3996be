"""SOQL AST -> one SQLite query over the store's tables, plus the shaping of its rows.

Storage contract: one table per object named after it, one column per field, hidden columns
`_visible_after` / `_deleted_at`. Parents are LEFT JOINed on the reference field; a deleted or
not-yet-visible parent counts as null. Filters follow Salesforce's two-valued logic: a comparison
on a null value is false, so `!=`, `NOT IN` and `NOT (...)` include records whose value is null.

Index choice: a query whose top-level AND bounds the root's Id by a range (`Id >= 'X' AND Id < 'Y'`, the
parts of a large Bulk receive) reads that range from the primary key. SQLite cannot judge it alone: without
STAT4 it guesses every range at the same share of the table, a modstamp window of all history as much as of
ten minutes, and likes the modstamp index (or IsDeleted's, whose sampled figure is far off), so each part
would walk the whole window and drop the records of the other parts. Such a query writes its modstamp and
IsDeleted filters as `+column` (the same values, out of any index's reach); every other query compiles as
it did, and a window alone keeps the modstamp index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crm_sync.sandbox.catalog import Catalog, Field, SObject
from crm_sync.sandbox.errors import SalesforceError, not_supported
from crm_sync.sandbox.ids import normalize_id
from crm_sync.sandbox.soql import literals
from crm_sync.sandbox.soql.ast import (
    BoolOp,
    Call,
    Comparison,
    FieldPath,
    Not,
    OrderItem,
    Pos,
    Query,
    SelectCall,
    Unsupported,
    Value,
)
from crm_sync.sandbox.soql.parser import parse
from crm_sync.sandbox.soql.query_errors import invalid_field, malformed, positioned
from crm_sync.sandbox.soql.shaping import (
    ObjectShape,
    RecordBuilder,
    aggregate_builder,
    csv_converter,
    json_converter,
    record_builder,
)
from crm_sync.sandbox.store import MODSTAMP_FIELDS
from crm_sync.sandbox.timefmt import format_datetime

MAX_OFFSET = 2000
MAX_FIELDS_LIMIT = 200
MAX_RELATIONSHIP_DEPTH = 5
MAX_INTEGER = 2**31 - 1
LONG_TEXT_LENGTH = 255  # textarea fields longer than this cannot be filtered or sorted (Salesforce)

TEXT_TYPES = {"string", "textarea", "picklist", "email", "phone", "url"}
ID_TYPES = {"id", "reference"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}
AGGREGATE_FUNCTIONS = {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"}
RANGE_OPERATORS = {"<", "<=", ">", ">="}
UNINDEXED_BESIDE_ID_RANGE = {*MODSTAMP_FIELDS, "IsDeleted"}  # their indexes lose to an Id range (module doc)
_TYPE_WORD = {"int": "integer", "datetime": "dateTime", "reference": "id"}


@dataclass
class CompiledQuery:
    """One SOQL query as SQL for the store, and the shaping of its rows into Salesforce's answers."""

    sobject: SObject
    sql: str
    params: list
    is_count: bool
    columns: list[str]  # the select list as Salesforce names it in output; empty for COUNT()
    compound_fields: list[str] = field(default_factory=list)  # selected compound fields: Bulk refuses these
    _shape: ObjectShape | None = field(default=None, repr=False)
    _aggregate_names: list[str] | None = field(default=None, repr=False)
    _csv_steps: list[tuple] = field(default_factory=list, repr=False)
    _builders: dict[str, RecordBuilder] = field(default_factory=dict, repr=False)

    def record(self, row: tuple, base_url: str = "/services/data/v59.0") -> dict:
        """The Salesforce JSON record for one result row (parents nested, null lookups as null)."""
        build = self._builders.get(base_url)
        if build is None:
            if self._aggregate_names is not None:
                build = aggregate_builder(self._aggregate_names)
            elif self._shape is not None:
                build = record_builder(self._shape, base_url)
            else:
                raise TypeError("a COUNT() query has no records")
            self._builders[base_url] = build
        return build(row)

    @property
    def is_aggregate(self) -> bool:
        return self._aggregate_names is not None

    def record_builder(self, base_url: str, convert_for: Callable[[Field], Callable[[object], object] | None]
                       ) -> RecordBuilder:
        """A row -> record function like `record`, with each field's conversion chosen by `convert_for`."""
        if self._shape is None:
            raise TypeError("only a query of fields has records of this shape")
        return record_builder(self._shape, base_url, convert_for)

    @property
    def shape(self) -> ObjectShape | None:
        """The record shape of a query of fields (None for COUNT() and aggregates)."""
        return self._shape

    def root_id(self, row: tuple) -> str:
        """The Id of a result row's record (every field query selects it, visibly or not)."""
        assert self._shape is not None
        return row[self._shape.id_index]

    def csv_header(self) -> list[str]:
        """The Bulk API 2.0 CSV header: the select list as written canonically ("Owner.Email")."""
        return list(self.columns)

    def csv_values(self, row: tuple) -> list[str]:
        """The Bulk API 2.0 CSV cells of one row: true/false, "" for null, numbers as Salesforce prints."""
        return [convert(row[index]) for index, convert in self._csv_steps]


def compile_soql(text: str, catalog: Catalog, *, include_deleted: bool, now: datetime) -> CompiledQuery:
    """Compile SOQL into SQL over the store; raises SalesforceError as Salesforce would answer."""
    query = parse(text)
    return _Compiler(text, catalog, include_deleted, now).compile(query)


@dataclass
class _Join:
    alias: str
    sobject: SObject


@dataclass
class _Resolved:
    """A field path resolved against the catalog."""

    alias: str
    field: Field
    relationships: tuple[str, ...]  # canonical relationship names from the root
    canonical: str  # "Owner.Email"
    expression: str | None = None  # the SQL of a compound field (a JSON object of its components)

    @property
    def column(self) -> str:
        return self.expression or f'{self.alias}."{self.field.name}"'


@dataclass
class _Selected:
    resolved: _Resolved
    index: int


class _Compiler:
    def __init__(self, text: str, catalog: Catalog, include_deleted: bool, now: datetime) -> None:
        self.text = text
        self.catalog = catalog
        self.include_deleted = include_deleted
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.now_stored = format_datetime(now)
        self.today = now.astimezone(UTC).date()
        self.root: SObject | None = None
        self.joins: dict[tuple[str, ...], _Join] = {}
        self.join_sql: list[str] = []
        self.where_params: list = []
        self.id_range = False  # the top-level AND bounds the root's Id: its primary key reads the records

    # entry point
    def compile(self, query: Query) -> CompiledQuery:
        root = self.catalog.get(query.sobject)
        if root is None:
            raise positioned(
                self.text, query.sobject_pos, "INVALID_TYPE",
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            )
        self.root = root
        for construct in query.unsupported:
            raise not_supported(construct.what)
        self._check_limits(query)
        selection = self._select(query)
        self.id_range = query.where is not None and self._bounds_root_id(query.where)
        where_sql = self._condition(query.where) if query.where is not None else None
        order_sql = self._order(query.order, selection)
        return self._assemble(query, selection, where_sql, order_sql)

    def _check_limits(self, query: Query) -> None:
        if query.limit is not None and query.limit > MAX_INTEGER:
            raise malformed(self.text, query.limit_pos, f"numeric value out of range: {query.limit}")
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise SalesforceError(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")

    # field paths and joins
    def _resolve(self, path: FieldPath, use: str = "") -> _Resolved:
        """The field a path names; `use` is "filtered"/"sorted"/"grouped" outside the select list,
        where compound fields are refused as Salesforce does."""
        assert self.root is not None
        parts = self._unqualified(path)
        if len(parts) - 1 > MAX_RELATIONSHIP_DEPTH:
            raise malformed(
                self.text, path.pos,
                f"A field path can traverse at most {MAX_RELATIONSHIP_DEPTH} parent relationships: {path.text}",
            )
        sobject, alias, relationships = self.root, "t0", ()
        for name in parts[:-1]:
            reference = sobject.relationship(name)
            target = self.catalog.get(reference.reference_to[0]) if reference and reference.reference_to else None
            if reference is None or target is None:
                raise invalid_field(
                    self.text, path.pos,
                    f"Didn't understand relationship '{name}' in field path. If you are attempting to use a "
                    "custom relationship, be sure to append the '__r' after the custom relationship name. "
                    "Please reference your WSDL or the describe call for the appropriate names.",
                )
            if reference.is_polymorphic:
                raise invalid_field(
                    self.text, path.pos,
                    f"Relationship '{reference.relationship_name}' is polymorphic ({sobject.name}."
                    f"{reference.name} references {', '.join(reference.reference_to)}): traversing "
                    "polymorphic relationships is not supported by the crm_sync sandbox",
                )
            relationships = (*relationships, reference.relationship_name or name)
            alias = self._join(relationships, alias, reference, target)
            sobject = target
        found = sobject.field(parts[-1])
        compound = sobject.compound(parts[-1]) if found is None else None
        if compound is not None:
            if use:
                raise invalid_field(self.text, path.pos,
                                    f"field '{compound.name}' can not be {use} in a query call")
            canonical = ".".join((*relationships, compound.name))
            return _Resolved(alias, compound, relationships, canonical, _compound_sql(alias, sobject, compound))
        if found is None:
            raise invalid_field(
                self.text, path.pos,
                f"No such column '{parts[-1]}' on entity '{sobject.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            )
        return _Resolved(alias, found, relationships, ".".join((*relationships, found.name)))

    def _unqualified(self, path: FieldPath) -> tuple[str, ...]:
        """The parts of a path without the root object's name (`Account.Name` on Account: the field Name)."""
        assert self.root is not None
        parts = path.parts
        if len(parts) > 1 and parts[0].lower() == self.root.name.lower() and self.root.relationship(parts[0]) is None:
            return parts[1:]
        return parts

    def _bounds_root_id(self, where: object) -> bool:
        """Whether the top-level AND of `where` holds a range (<, <=, >, >=) on the root's own Id."""
        assert self.root is not None
        for node in _conjuncts(where):
            if isinstance(node, Comparison) and node.op in RANGE_OPERATORS and isinstance(node.operand, FieldPath):
                parts = self._unqualified(node.operand)
                named = self.root.field(parts[0]) if len(parts) == 1 else None
                if named is not None and named.name == "Id":
                    return True
        return False

    def _filtered_column(self, alias: str, name: str) -> str:
        """A column as the WHERE compares it: `+column` (out of any index's reach) for the root's modstamps and
        IsDeleted when the query bounds the root's Id, so the Id range reads the records (module docstring)."""
        column = f'{alias}."{name}"'
        return f"+{column}" if self.id_range and alias == "t0" and name in UNINDEXED_BESIDE_ID_RANGE else column

    def _join(self, relationships: tuple[str, ...], from_alias: str, reference: Field, target: SObject) -> str:
        key = tuple(name.lower() for name in relationships)
        existing = self.joins.get(key)
        if existing is not None:
            return existing.alias
        alias = f"t{len(self.joins) + 1}"
        conditions = [f'{alias}."Id" = {from_alias}."{reference.name}"', self._visible(alias)]
        if not self.include_deleted and target.field("IsDeleted") is not None:
            conditions.append(f'{alias}."IsDeleted" = 0')
        self.join_sql.append(f'LEFT JOIN "{target.name}" AS {alias} ON ' + " AND ".join(conditions))
        self.joins[key] = _Join(alias, target)
        return alias

    def _visible(self, alias: str) -> str:
        return f'({alias}."_visible_after" IS NULL OR {alias}."_visible_after" <= ?)'

    # select list
    def _select(self, query: Query) -> _Selection:
        selection = _Selection()
        for item in query.select:
            if isinstance(item, Unsupported):
                raise not_supported(item.what)
            if isinstance(item, FieldPath):
                selection.add_field(self, self._resolve(item), item.text, item.pos)
            else:
                self._select_call(item, query, selection)
        if selection.count_only and (selection.fields or selection.aggregates):
            raise malformed(self.text, selection.count_only_pos, "COUNT() cannot be combined with other fields")
        if selection.aggregates and selection.fields:
            first = selection.fields[0]
            raise malformed(self.text, selection.field_positions[0],
                            f"Field must be grouped or aggregated: {first.resolved.canonical}")
        return selection

    def _select_call(self, item: SelectCall, query: Query, selection: _Selection) -> None:
        call = item.call
        name = call.name.upper()
        if name == "FIELDS":
            self._select_fields_function(call, query, selection)
        elif name == "COUNT" and not call.args:
            if item.alias is not None:
                raise malformed(self.text, call.pos, "COUNT() cannot have an alias")
            selection.count_only = True
            selection.count_only_pos = call.pos
        elif name == "COUNT" and len(call.args) == 1 and isinstance(call.args[0], FieldPath):
            resolved = self._resolve(call.args[0], "grouped")
            alias = item.alias or f"expr{len(selection.aggregates)}"
            selection.aggregates.append((alias, f"COUNT({resolved.column})"))
        elif name in AGGREGATE_FUNCTIONS:
            raise not_supported(f"The aggregate function {name}()")
        else:
            raise not_supported(f"The function {call.name}()")

    def _select_fields_function(self, call: Call, query: Query, selection: _Selection) -> None:
        assert self.root is not None
        argument = call.args[0] if len(call.args) == 1 else None
        kind = argument.text.upper() if isinstance(argument, FieldPath) and len(argument.parts) == 1 else ""
        if kind not in {"ALL", "STANDARD", "CUSTOM"}:
            raise malformed(self.text, call.pos, "FIELDS() takes one of ALL, STANDARD or CUSTOM")
        if kind in {"ALL", "CUSTOM"} and (query.limit is None or query.limit > MAX_FIELDS_LIMIT):
            raise SalesforceError(400, "MALFORMED_QUERY",
                                  f"The SOQL FIELDS function must have a LIMIT of at most {MAX_FIELDS_LIMIT}")
        for candidate in self.root.fields:
            if kind == "ALL" or (kind == "CUSTOM") == candidate.custom:
                resolved = _Resolved("t0", candidate, (), candidate.name)
                selection.add_field(self, resolved, candidate.name, call.pos)

    # WHERE
    def _condition(self, node: object) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self._condition(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT COALESCE({self._condition(node.item)}, 0))"
        if isinstance(node, Unsupported):
            raise not_supported(node.what)
        assert isinstance(node, Comparison)
        return self._comparison(node)

    def _comparison(self, node: Comparison) -> str:
        if isinstance(node.operand, Call):
            raise not_supported(f"The function {node.operand.name}() in WHERE")
        resolved = self._resolve(node.operand, "filtered")
        target = resolved.field
        if target.type == "textarea" and target.length > LONG_TEXT_LENGTH:
            raise invalid_field(self.text, node.pos, f"field '{target.name}' can not be filtered in query call")
        self._check_operator(node, target)
        column = resolved.expression or self._filtered_column(resolved.alias, target.name)
        collate = " COLLATE NOCASE" if target.type in TEXT_TYPES else ""
        if node.op == "LIKE":
            assert isinstance(node.value, Value)
            pattern = self._like_value(node.value, target, node.pos)
            if pattern is None:
                return "0"
            self.where_params.append(pattern)
            return f"{column} LIKE ? ESCAPE '\\'"
        if node.op in ("IN", "NOT IN"):
            assert isinstance(node.value, tuple)
            values = [self._value(value, target, node.pos) for value in node.value]
            membership = self._membership(column, collate, values)
            return membership if node.op == "IN" else f"(NOT COALESCE({membership}, 0))"
        assert isinstance(node.value, Value)
        return self._compare(column, collate, node.op, self._value(node.value, target, node.pos))

    def _check_operator(self, node: Comparison, target: Field) -> None:
        if target.type == "boolean" and node.op not in ("=", "!=", "IN", "NOT IN"):
            raise positioned(self.text, node.pos, "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on boolean field")
        if node.op == "LIKE" and target.type not in TEXT_TYPES:
            word = "id" if target.type in ID_TYPES else _TYPE_WORD.get(target.type, target.type)
            raise positioned(self.text, node.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on {word} field")

    def _compare(self, column: str, collate: str, op: str, value: object) -> str:
        if value is None:
            if op == "=":
                return f"{column} IS NULL"
            return f"{column} IS NOT NULL" if op == "!=" else "0"
        if isinstance(value, _Range):
            start, end = value.start, value.end
            if op == "=":
                self.where_params += [start, end]
                return f"({column} >= ? AND {column} < ?)"
            if op == "!=":
                self.where_params += [start, end]
                return f"({column} IS NULL OR {column} < ? OR {column} >= ?)"
            bound, sql_op = {"<": (start, "<"), "<=": (end, "<"), ">": (end, ">="), ">=": (start, ">=")}[op]
            self.where_params.append(bound)
            return f"{column} {sql_op} ?"
        self.where_params.append(value)
        if op == "!=":
            return f"({column} IS NULL OR {column} != ?{collate})"
        return f"{column} {op} ?{collate}"

    def _membership(self, column: str, collate: str, values: list) -> str:
        scalars = [v for v in values if v is not None and not isinstance(v, _Range)]
        parts = []
        if scalars:
            self.where_params += scalars
            parts.append(f"{column}{collate} IN ({', '.join('?' * len(scalars))})")
        for value in values:
            if isinstance(value, _Range):
                self.where_params += [value.start, value.end]
                parts.append(f"({column} >= ? AND {column} < ?)")
        if any(v is None for v in values):
            parts.append(f"{column} IS NULL")
        return "(" + " OR ".join(parts) + ")"

    # literal values, checked against the field's type
    def _type_error(self, target: Field, pos: Pos) -> SalesforceError:
        quoted = target.type in TEXT_TYPES or target.type in ID_TYPES
        word = "string" if target.type in TEXT_TYPES else _TYPE_WORD.get(target.type, target.type)
        enclosed = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return invalid_field(self.text, pos,
                             f"value of filter criterion for field '{target.name}' must be of type {word} "
                             f"and {enclosed}")

    def _like_value(self, value: Value, target: Field, pos: Pos) -> str | None:
        if value.kind == "name" and value.text.lower() == "null":
            return None
        if value.kind != "string":
            self._reject_words(value)
            raise self._type_error(target, pos)
        try:
            return literals.like_pattern(value.text)
        except literals.LiteralError as error:
            raise malformed(self.text, value.pos, str(error)) from None

    def _reject_words(self, value: Value) -> None:
        """Errors for values that are not literals at all: bind variables and unknown words."""
        if value.kind == "bind":
            raise malformed(self.text, value.pos, "Bind variables only allowed in Apex code")
        if value.kind in ("name", "name_n"):
            word = value.text.lower()
            if word in ("null", "true", "false") and value.kind == "name":
                return
            n = value.n if value.kind == "name_n" else None
            if literals.date_literal_range(value.text, n, self.today) is None:
                raise malformed(self.text, value.pos, f"unexpected token: '{value.text}'")

    def _value(self, value: Value, target: Field, pos: Pos) -> object:
        """The SQL parameter for a literal compared with `target` (None for null, _Range for date literals)."""
        self._reject_words(value)
        kind, word = value.kind, value.text.lower()
        if kind == "name" and word == "null":
            return None
        field_type = target.type
        try:
            if field_type in TEXT_TYPES and kind == "string":
                return literals.decode_string(value.text)
            if field_type in ID_TYPES and kind == "string":
                text = literals.decode_string(value.text)
                normalized = normalize_id(text)
                if normalized is None:
                    raise positioned(self.text, value.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
                return normalized
            if field_type in NUMBER_TYPES and kind == "number":
                return literals.parse_number(value.text)
            if field_type == "boolean" and kind == "name" and word in ("true", "false"):
                return 1 if word == "true" else 0
            if field_type == "date" and kind == "date":
                return literals.parse_date_literal(value.text)
            if field_type == "datetime" and kind == "datetime":
                return literals.parse_datetime_literal(value.text)
        except literals.LiteralError as error:
            raise malformed(self.text, value.pos, str(error)) from None
        if field_type in ("date", "datetime") and kind in ("name", "name_n") and word not in ("true", "false"):
            n = value.n if kind == "name_n" else None
            days = literals.date_literal_range(value.text, n, self.today)
            assert days is not None
            if field_type == "date":
                return _Range(days[0].isoformat(), days[1].isoformat())
            return _Range(literals.day_start(days[0]), literals.day_start(days[1]))
        raise self._type_error(target, pos)

    # ORDER BY
    def _order(self, items: tuple[OrderItem, ...], selection: _Selection) -> str | None:
        if not items:
            return None
        terms = []
        for item in items:
            if isinstance(item.operand, Call):
                raise not_supported(f"The function {item.operand.name}() in ORDER BY")
            resolved = self._resolve(item.operand, "sorted")
            target = resolved.field
            if selection.count_only or selection.aggregates:
                raise malformed(self.text, item.operand.pos,
                                f"Ordered field must be grouped or aggregated: {resolved.canonical}")
            if target.type == "textarea" and target.length > LONG_TEXT_LENGTH:
                raise invalid_field(self.text, item.operand.pos,
                                    f"field '{target.name}' can not be sorted in a query call")
            collate = " COLLATE NOCASE" if target.type in TEXT_TYPES else ""
            direction = "DESC" if item.descending else "ASC"
            nulls = "LAST" if item.nulls_last else "FIRST"
            terms.append(f"{resolved.column}{collate} {direction} NULLS {nulls}")
        return ", ".join(terms)

    # the SQL
    def _assemble(self, query: Query, selection: _Selection, where_sql: str | None,
                  order_sql: str | None) -> CompiledQuery:
        assert self.root is not None
        root = self.root
        filters = [self._visible("t0")]
        if not self.include_deleted:
            filters.append(f'{self._filtered_column("t0", "IsDeleted")} = 0')
        if where_sql is not None:
            filters.append(where_sql)
        body = f'FROM "{root.name}" AS t0'
        if self.join_sql:
            body += " " + " ".join(self.join_sql)
        body += " WHERE " + " AND ".join(filters)
        params = [self.now_stored] * (len(self.join_sql) + 1) + self.where_params
        paging = ""
        if query.limit is not None or query.offset is not None:
            paging = f" LIMIT {query.limit if query.limit is not None else -1}"
            if query.offset:
                paging += f" OFFSET {query.offset}"
        if selection.count_only:
            sql = f"SELECT COUNT(*) FROM (SELECT 1 {body}{paging})" if paging else f"SELECT COUNT(*) {body}"
            return CompiledQuery(root, sql, params, True, [])
        if selection.aggregates:
            names = [name for name, _ in selection.aggregates]
            sql = "SELECT " + ", ".join(expr for _, expr in selection.aggregates) + f" {body}{paging}"
            csv_steps = [(index, _csv_plain) for index in range(len(names))]
            return CompiledQuery(root, sql, params, False, names, _aggregate_names=names, _csv_steps=csv_steps)
        shape, expressions = selection.shape(root, self.joins)
        sql = "SELECT " + ", ".join(expressions) + f" {body}"
        if order_sql:
            sql += f" ORDER BY {order_sql}"
        sql += paging
        columns = [selected.resolved.canonical for selected in selection.fields]
        csv_steps = [(selected.index, csv_converter(selected.resolved.field)) for selected in selection.fields]
        compound = [selected.resolved.canonical for selected in selection.fields if selected.resolved.field.is_compound]
        return CompiledQuery(root, sql, params, False, columns, compound_fields=compound, _shape=shape,
                             _csv_steps=csv_steps)


def _conjuncts(node: object) -> list[object]:
    """The conditions a WHERE ANDs at its top level (through nested ANDs: `(a AND b) AND c` gives a, b, c)."""
    if isinstance(node, BoolOp) and node.op == "AND":
        return [leaf for item in node.items for leaf in _conjuncts(item)]
    return [node]


def _compound_sql(alias: str, sobject: SObject, compound: Field) -> str:
    """A compound field as SQL: a JSON object of its components keyed as Salesforce names them
    (BillingPostalCode -> postalCode), or NULL when every component is null."""
    components = sobject.components(compound)
    prefix = compound.name[: -len("Address")] if compound.type == "address" else compound.name
    pairs = []
    for component in sorted(components, key=lambda f: f.name[len(prefix):].lower()):
        key = component.name[len(prefix):]
        pairs.append(f"'{key[:1].lower() + key[1:]}', {alias}.\"{component.name}\"")
    columns = ", ".join(f'{alias}."{component.name}"' for component in components)
    if not components:
        return "NULL"
    every_null = f"coalesce({columns}, NULL) IS NULL" if len(components) > 1 else f"{columns} IS NULL"
    return f"CASE WHEN {every_null} THEN NULL ELSE json_object({', '.join(pairs)}) END"


def _csv_plain(value: object) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class _Range:
    """A date literal's [start, end) in the stored form of the compared field."""

    start: str
    end: str


class _Selection:
    """The select list being built: plain fields (with duplicate detection), COUNT() or aggregates."""

    def __init__(self) -> None:
        self.fields: list[_Selected] = []
        self.field_positions: list[Pos] = []
        self.seen: set[str] = set()
        self.count_only = False
        self.count_only_pos = Pos(1, 1)
        self.aggregates: list[tuple[str, str]] = []

    def add_field(self, compiler: _Compiler, resolved: _Resolved, written: str, pos: Pos) -> None:
        key = resolved.canonical.lower()
        if key in self.seen:
            raise SalesforceError(400, "INVALID_FIELD", f"duplicate field selected: {written}")
        self.seen.add(key)
        self.fields.append(_Selected(resolved, len(self.fields)))
        self.field_positions.append(pos)

    def shape(self, root: SObject, joins: dict[tuple[str, ...], _Join]) -> tuple[ObjectShape, list[str]]:
        """The record shape and the SQL select expressions (visible columns first, then hidden Ids)."""
        expressions = [selected.resolved.column for selected in self.fields]
        id_index: dict[tuple[str, ...], int] = {}
        for selected in self.fields:
            resolved = selected.resolved
            if resolved.field.name == "Id":
                id_index.setdefault(tuple(r.lower() for r in resolved.relationships), selected.index)

        def id_of(key: tuple[str, ...], alias: str) -> int:
            if key not in id_index:
                id_index[key] = len(expressions)
                expressions.append(f'{alias}."Id"')
            return id_index[key]

        root_shape = ObjectShape(root.name, id_of((), "t0"), [])
        shapes: dict[tuple[str, ...], ObjectShape] = {(): root_shape}
        for selected in self.fields:
            resolved = selected.resolved
            parent_shape = root_shape
            for depth in range(1, len(resolved.relationships) + 1):
                key = tuple(r.lower() for r in resolved.relationships[:depth])
                child = shapes.get(key)
                if child is None:
                    join = joins[key]
                    child = ObjectShape(join.sobject.name, id_of(key, join.alias), [])
                    shapes[key] = child
                    parent_shape.entries.append((resolved.relationships[depth - 1], child))
                parent_shape = child
            parent_shape.entries.append((resolved.field.name, selected.index, json_converter(resolved.field),
                                         resolved.field))
        return root_shape, expressions
