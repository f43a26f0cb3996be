"""The SOQL grammar (lark, LALR with the contextual lexer).

Keywords are case-insensitive, end at a word boundary and outrank identifiers where both may
appear, so `FromDate__c` stays a name while `from` is the keyword. Constructs the sandbox refuses
(subqueries, TYPEOF, GROUP BY, WITH, ...) are still parsed, so the refusal can name them.
"""

from __future__ import annotations

KEYWORDS = (
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES", "ORDER", "BY",
    "ASC", "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "FOR",
    "USING", "TYPEOF", "WHEN", "THEN", "ELSE", "END",
)

_RULES = r"""
start: query

query: SELECT select_list FROM NAME using_clause? where_clause? with_clause? group_clause? \
       order_clause? limit_clause? offset_clause? for_clause?

select_list: select_item ("," select_item)*
select_item: field_path                                      -> field_item
           | call NAME?                                      -> call_item
           | LPAR query ")"                                  -> subquery_item
           | TYPEOF NAME when_branch+ (ELSE field_list)? END  -> typeof_item
when_branch: WHEN NAME THEN field_list
field_list: field_path ("," field_path)*

field_path: NAME ("." NAME)*
call: NAME "(" (call_arg ("," call_arg)*)? ")"
?call_arg: field_path | call | STRING | NUMBER
?operand: field_path | call

using_clause: USING NAME NAME
where_clause: WHERE condition

?condition: and_condition | or_condition | unary_condition
and_condition: unary_condition (AND unary_condition)+
or_condition: unary_condition (OR unary_condition)+
?unary_condition: NOT unary_condition                     -> not_condition
                | "(" condition ")"
                | comparison

comparison: operand COMP_OP value                         -> compare
          | operand LIKE value                            -> like
          | operand IN "(" value_list ")"                 -> in_list
          | operand NOT IN "(" value_list ")"             -> not_in_list
          | operand NOT? IN "(" query ")"                 -> semi_join
          | operand (INCLUDES | EXCLUDES) "(" value_list ")" -> includes

value_list: value ("," value)*
value: STRING                                             -> string_value
     | NUMBER                                             -> number_value
     | DATE                                               -> date_value
     | DATETIME                                           -> datetime_value
     | NAME                                               -> name_value
     | NAME ":" INT                                       -> name_n_value
     | ":" NAME                                           -> bind_value

with_clause: WITH (NAME | AND | OR | "(" | ")" | ",")+
group_clause: GROUP BY operand ("," operand)* (HAVING condition)?
order_clause: ORDER BY order_item ("," order_item)*
order_item: operand (ASC | DESC)? (NULLS (FIRST | LAST))?
limit_clause: LIMIT INT
offset_clause: OFFSET INT
for_clause: FOR NAME ("," NAME)*

LPAR: "("
COMP_OP: /!=|<>|<=|>=|=|<|>/
DATETIME.4: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})/
DATE.3: /\d{4}-\d{2}-\d{2}/
NUMBER.1: /[+-]?(\d+(\.\d*)?|\.\d+)/
INT: /\d+/
STRING: /'(?:[^'\\]|\\.)*'/s
NAME: /[A-Za-z_][A-Za-z0-9_]*/

%ignore /\s+/
"""


def soql_grammar() -> str:
    """The full lark grammar text: the rules plus one word-bounded terminal per keyword."""
    keywords = "\n".join(f"{word}.2: /{word.lower()}\\b/i" for word in KEYWORDS)
    return _RULES + "\n" + keywords + "\n"
