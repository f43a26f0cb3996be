"""SOQL text -> `ast.Query`, with Salesforce's MALFORMED_QUERY errors for syntax errors.

The LALR parser is built once at import; parses are cached by query text.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

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
from crm_sync.sandbox.soql.grammar import soql_grammar
from crm_sync.sandbox.soql.query_errors import end_position, malformed


def _pos(token: Token) -> Pos:
    return Pos(token.line, token.column)


def _node_pos(node: object) -> Pos:
    return node.pos if isinstance(node, FieldPath | Call | Unsupported) else Pos(1, 1)


class _ToAst(Transformer):
    """Builds `ast` nodes while the LALR parser reduces (no intermediate parse tree)."""

    def start(self, children):
        return children[0]

    def query(self, children):
        select, sobject = children[1], children[3]
        where = None
        order: tuple[OrderItem, ...] = ()
        limit = offset = None
        limit_pos = offset_pos = None
        unsupported: list[Unsupported] = []
        for clause in children[4:]:
            kind = clause[0]
            if kind == "where":
                where = clause[1]
            elif kind == "order":
                order = clause[1]
            elif kind == "limit":
                limit, limit_pos = clause[1], clause[2]
            elif kind == "offset":
                offset, offset_pos = clause[1], clause[2]
            else:
                unsupported.append(clause[1])
        return Query(select, str(sobject), _pos(sobject), where, order, limit, limit_pos, offset, offset_pos,
                     tuple(unsupported))

    # select list
    def select_list(self, items):
        return tuple(items)

    def field_item(self, children):
        return children[0]

    def call_item(self, children):
        alias = str(children[1]) if len(children) > 1 else None
        return SelectCall(children[0], alias)

    def subquery_item(self, children):
        return Unsupported("Subqueries (child relationships)", _pos(children[0]))

    def typeof_item(self, children):
        return Unsupported("TYPEOF", _pos(children[0]))

    def when_branch(self, children):
        return None

    def field_list(self, children):
        return None

    def field_path(self, names):
        return FieldPath(tuple(str(n) for n in names), _pos(names[0]))

    def call(self, children):
        name = children[0]
        return Call(str(name), tuple(children[1:]), _pos(name))

    # clauses
    def using_clause(self, children):
        return ("clause", Unsupported("USING SCOPE", _pos(children[0])))

    def where_clause(self, children):
        return ("where", children[1])

    def with_clause(self, children):
        words = " ".join(str(c) for c in children[:2])
        return ("clause", Unsupported(words.upper() if len(children) > 1 else "WITH", _pos(children[0])))

    def group_clause(self, children):
        having = any(isinstance(c, Token) and c.type == "HAVING" for c in children)
        return ("clause", Unsupported("GROUP BY and HAVING" if having else "GROUP BY", _pos(children[0])))

    def order_clause(self, children):
        return ("order", tuple(children[2:]))

    def order_item(self, children):
        types = [c.type for c in children[1:]]
        descending = "DESC" in types
        nulls_last = "LAST" in types if "NULLS" in types else descending
        return OrderItem(children[0], descending, nulls_last)

    def limit_clause(self, children):
        return ("limit", int(children[1]), _pos(children[1]))

    def offset_clause(self, children):
        return ("offset", int(children[1]), _pos(children[1]))

    def for_clause(self, children):
        words = " ".join(str(c).upper() for c in children[1:])
        return ("clause", Unsupported(f"FOR {words}", _pos(children[0])))

    # conditions
    def and_condition(self, children):
        return BoolOp("AND", tuple(c for c in children if not isinstance(c, Token)))

    def or_condition(self, children):
        return BoolOp("OR", tuple(c for c in children if not isinstance(c, Token)))

    def not_condition(self, children):
        return Not(children[1])

    def compare(self, children):
        operand, op, value = children
        op_text = "!=" if str(op) == "<>" else str(op)
        return Comparison(operand, op_text, value, _node_pos(operand))

    def like(self, children):
        return Comparison(children[0], "LIKE", children[2], _node_pos(children[0]))

    def in_list(self, children):
        return Comparison(children[0], "IN", children[2], _node_pos(children[0]))

    def not_in_list(self, children):
        return Comparison(children[0], "NOT IN", children[3], _node_pos(children[0]))

    def semi_join(self, children):
        return Unsupported("Semi-join and anti-join subqueries (IN (SELECT ...))", _node_pos(children[0]))

    def includes(self, children):
        return Unsupported(f"The {str(children[1]).upper()} operator", _node_pos(children[0]))

    # values
    def value_list(self, values):
        return tuple(values)

    def string_value(self, children):
        return Value("string", str(children[0]), _pos(children[0]))

    def number_value(self, children):
        return Value("number", str(children[0]), _pos(children[0]))

    def date_value(self, children):
        return Value("date", str(children[0]), _pos(children[0]))

    def datetime_value(self, children):
        return Value("datetime", str(children[0]), _pos(children[0]))

    def name_value(self, children):
        return Value("name", str(children[0]), _pos(children[0]))

    def name_n_value(self, children):
        return Value("name_n", str(children[0]), _pos(children[0]), int(children[1]))

    def bind_value(self, children):
        return Value("bind", str(children[0]), _pos(children[0]))


# Salesforce's reserved words cannot be names, even where the grammar would allow one (`SELECT Id, FROM X`).
RESERVED_WORDS = frozenset({
    "AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "GROUP", "HAVING", "IN", "INCLUDES", "LAST", "LIKE",
    "LIMIT", "NOT", "NULLS", "OR", "SELECT", "WHERE", "WITH",
})


class _ReservedWord(Exception):
    def __init__(self, token: Token) -> None:
        super().__init__(str(token))
        self.token = token


def _check_name(token: Token) -> Token:
    if token.upper() in RESERVED_WORDS:
        raise _ReservedWord(token)
    return token


_PARSER = Lark(soql_grammar(), parser="lalr", lexer="contextual", transformer=_ToAst(),
               lexer_callbacks={"NAME": _check_name})


@lru_cache(maxsize=1024)
def parse(text: str) -> Query:
    """Parse SOQL text; a syntax error raises MALFORMED_QUERY with Salesforce's positional message."""
    try:
        return _PARSER.parse(text)
    except _ReservedWord as reserved:
        token = reserved.token
        raise malformed(text, Pos(token.line, token.column), f"unexpected token: '{token}'") from None
    except UnexpectedToken as error:
        token = error.token
        if token.type == "$END":
            raise malformed(text, end_position(text), "unexpected token: '<EOF>'") from None
        raise malformed(text, Pos(token.line, token.column), f"unexpected token: '{token}'") from None
    except UnexpectedCharacters as error:
        word = text[error.pos_in_stream:].split(None, 1)[0] if text[error.pos_in_stream:].strip() else ""
        shown = word[0] if word[:1] in {"'", '"'} else word
        raise malformed(text, Pos(error.line, error.column), f"unexpected token: '{shown}'") from None
    except UnexpectedEOF:
        raise malformed(text, end_position(text), "unexpected token: '<EOF>'") from None
