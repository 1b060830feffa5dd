"""A small JQL subset: tokenizer, recursive-descent parser and evaluator.

Supported: fields project, key, issuekey, id, issuetype/type, status, statusCategory,
assignee, priority, updated, created, resolved/resolutiondate, duedate, parent, labels;
operators = != IN, NOT IN, > >= < <=, IS [NOT] EMPTY/NULL; AND, OR, NOT, parentheses;
ORDER BY <field> [ASC|DESC], ... over updated, created, id, key, duedate, resolutiondate.
Date values: "yyyy-MM-dd HH:mm", "yyyy/MM/dd HH:mm", "yyyy-MM-dd" (interpreted in the
searching user's time zone, minute precision, as real Jira does), epoch milliseconds, or
relative offsets like -30d, -4h, -15m. Anything else is rejected with the 400 body a real
site would send, because a connector relying on unsupported JQL must notice in tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


class JqlError(ValueError):
    """Invalid or unsupported JQL; the message is Jira's errorMessages text."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
     |(?P<op>!=|>=|<=|=|>|<|~|!~|\(|\)|,)
     |(?P<word>[^\s"'(),=!<>~]+)
    )""",
    re.VERBOSE,
)
_RESERVED_CHARS = set("%^$#@[]{}|;`")

_FIELD_ALIASES = {
    "project": "project",
    "key": "key",
    "issue": "key",
    "issuekey": "key",
    "id": "id",
    "issuetype": "type",
    "type": "type",
    "status": "status",
    "statuscategory": "statuscategory",
    "assignee": "assignee",
    "priority": "priority",
    "updated": "updated",
    "updateddate": "updated",
    "created": "created",
    "createddate": "created",
    "resolved": "resolved",
    "resolutiondate": "resolved",
    "duedate": "due_on",
    "due": "due_on",
    "parent": "parent",
    "labels": "labels",
    "sprint": "sprints",  # ids; `sprint is not EMPTY` is what connectors ask
}
_DATE_FIELDS = {"updated", "created", "resolved"}
_ORDER_FIELDS = {
    "updated": "updated",
    "updateddate": "updated",
    "created": "created",
    "id": "id",
    "key": "key",
    "issuekey": "key",
    "duedate": "due_on",
    "resolutiondate": "resolved",
    "resolved": "resolved",
}


@dataclass(frozen=True)
class Token:
    kind: str  # str | op | word | end
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = jql.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            ch = text[pos:].lstrip()[:1]
            raise JqlError(
                f"Error in the JQL Query: The character '{ch}' is a reserved JQL character. "
                f"You must enclose it in a string or use the escape '\\u{ord(ch):04x}' instead. "
                f"(line 1, character {pos + 1})"
            )
        kind = match.lastgroup or "word"
        value = match.group(kind)
        start = match.start(kind)
        if kind == "word" and any(c in _RESERVED_CHARS for c in value):
            bad = next(c for c in value if c in _RESERVED_CHARS)
            raise JqlError(
                f"Error in the JQL Query: The character '{bad}' is a reserved JQL character. "
                f"You must enclose it in a string or use the escape '\\u{ord(bad):04x}' instead. "
                f"(line 1, character {start + value.index(bad) + 1})"
            )
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value, start))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # = != in notin > >= < <= empty notempty
    values: tuple[Any, ...]


@dataclass(frozen=True)
class BoolNode:
    op: str  # and | or | not
    children: tuple[Any, ...]


@dataclass(frozen=True)
class Query:
    where: Clause | BoolNode | None
    order_by: tuple[tuple[str, bool], ...]  # (field, descending)


class _Parser:
    def __init__(self, jql: str, tz: ZoneInfo, now_ms: int) -> None:
        self.jql = jql
        self.tokens = tokenize(jql)
        self.i = 0
        self.tz = tz
        self.now_ms = now_ms

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail_expect(self, what: str) -> JqlError:
        tok = self.peek()
        got = tok.text if tok.kind != "end" else "EOF"
        return JqlError(
            f"Error in the JQL Query: Expecting {what} but got '{got}'. "
            f"(line 1, character {tok.pos + 1})"
        )

    def parse(self) -> Query:
        where = None
        if not (self.peek().upper == "ORDER" or self.peek().kind == "end"):
            where = self.parse_or()
        order: list[tuple[str, bool]] = []
        if self.peek().upper == "ORDER":
            self.take()
            if self.take().upper != "BY":
                self.i -= 1
                raise self.fail_expect("'by'")
            while True:
                tok = self.take()
                name = tok.text.lower() if tok.kind in ("word", "str") else ""
                if name not in _ORDER_FIELDS:
                    raise JqlError(
                        f"Not able to sort using field '{tok.text}'."
                        if tok.kind != "end"
                        else "Error in the JQL Query: Expecting a field name but got 'EOF'."
                    )
                desc = False
                if self.peek().upper in ("ASC", "DESC"):
                    desc = self.take().upper == "DESC"
                order.append((_ORDER_FIELDS[name], desc))
                if self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    continue
                break
        if self.peek().kind != "end":
            raise self.fail_expect("either 'OR' or 'AND'")
        return Query(where, tuple(order))

    def parse_or(self) -> Any:
        node = self.parse_and()
        children = [node]
        while self.peek().upper == "OR":
            self.take()
            children.append(self.parse_and())
        return node if len(children) == 1 else BoolNode("or", tuple(children))

    def parse_and(self) -> Any:
        children = [self.parse_not()]
        while self.peek().upper == "AND":
            self.take()
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else BoolNode("and", tuple(children))

    def parse_not(self) -> Any:
        if self.peek().upper == "NOT":
            self.take()
            return BoolNode("not", (self.parse_not(),))
        if self.peek().kind == "op" and self.peek().text == "(":
            self.take()
            node = self.parse_or()
            if not (self.peek().kind == "op" and self.peek().text == ")"):
                raise self.fail_expect("')'")
            self.take()
            return node
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        tok = self.take()
        if tok.kind not in ("word", "str"):
            self.i -= 1
            raise self.fail_expect("a field name")
        raw_field = tok.text
        field = _FIELD_ALIASES.get(raw_field.lower())
        if field is None:
            raise JqlError(
                f"Field '{raw_field}' does not exist or you do not have permission to view it."
            )
        op_tok = self.take()
        if op_tok.kind == "op" and op_tok.text in ("=", "!=", ">", ">=", "<", "<="):
            op = op_tok.text
        elif op_tok.upper == "IN":
            op = "in"
        elif op_tok.upper == "NOT" and self.peek().upper == "IN":
            self.take()
            op = "notin"
        elif op_tok.upper == "IS":
            negate = self.peek().upper == "NOT"
            if negate:
                self.take()
            if self.take().upper not in ("EMPTY", "NULL"):
                self.i -= 1
                raise self.fail_expect("EMPTY")
            return Clause(field, "notempty" if negate else "empty", ())
        else:
            self.i -= 1
            raise self.fail_expect("operator")
        if op in ("in", "notin"):
            nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
            if self.peek().kind == "word" and nxt and nxt.kind == "op" and nxt.text == "(":
                raise JqlError(f"Unable to find JQL function '{self.peek().text}()'.")
            if not (self.peek().kind == "op" and self.peek().text == "("):
                raise self.fail_expect("'('")
            self.take()
            values = [self.parse_value(field, raw_field, op)]
            while self.peek().kind == "op" and self.peek().text == ",":
                self.take()
                values.append(self.parse_value(field, raw_field, op))
            if not (self.peek().kind == "op" and self.peek().text == ")"):
                raise self.fail_expect("')'")
            self.take()
            return Clause(field, op, tuple(values))
        if op in (">", ">=", "<", "<=") and field not in _DATE_FIELDS | {"id", "key", "due_on"}:
            raise JqlError(f"The operator '{op}' is not supported by the '{raw_field}' field.")
        return Clause(field, op, (self.parse_value(field, raw_field, op),))

    def parse_value(self, field: str, raw_field: str, op: str) -> Any:
        tok = self.take()
        if tok.kind not in ("word", "str"):
            self.i -= 1
            raise self.fail_expect("either a value, list or function")
        if tok.kind == "word" and self.peek().kind == "op" and self.peek().text == "(":
            raise JqlError(f"Unable to find JQL function '{tok.text}()'.")
        text = tok.text
        if field in _DATE_FIELDS:
            return self.to_ms(text, raw_field)
        if field == "id":
            if not text.isdigit():
                raise JqlError(f"The value '{text}' for field 'id' is invalid.")
            return int(text)
        if field == "due_on":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise JqlError(f"Date value '{text}' for field '{raw_field}' is invalid.")
            return text
        return text

    def to_ms(self, text: str, raw_field: str) -> int:
        if re.fullmatch(r"\d{9,}", text):
            return int(text)
        rel = re.fullmatch(r"([+-]?)(\d+)([wdhm])", text)
        if rel:
            unit = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}[rel.group(3)]
            sign = -1 if rel.group(1) == "-" else 1
            return self.now_ms + sign * int(rel.group(2)) * unit
        for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            return int(parsed.replace(tzinfo=self.tz).timestamp() * 1000)
        raise JqlError(
            f"Date value '{text}' for field '{raw_field}' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
            "format e.g. '-5d', '4w 2d'."
        )


def parse(jql: str, tz: ZoneInfo, now_ms: int) -> Query:
    return _Parser(jql, tz, now_ms).parse()


Getter = Callable[[dict[str, Any], str], Any]


def _key_tuple(key: str) -> tuple[str, int]:
    proj, _, num = key.rpartition("-")
    return (proj, int(num) if num.isdigit() else 0)


def compile_predicate(node: Any, get: Getter) -> Callable[[dict[str, Any]], bool]:
    """Turn the parse tree into a predicate over issues; `get(issue, field)` reads a value
    (strings compared case-insensitively, as JQL does)."""
    if node is None:
        return lambda issue: True
    if isinstance(node, BoolNode):
        parts = [compile_predicate(c, get) for c in node.children]
        if node.op == "and":
            return lambda issue: all(p(issue) for p in parts)
        if node.op == "or":
            return lambda issue: any(p(issue) for p in parts)
        return lambda issue: not parts[0](issue)
    clause: Clause = node
    field, op = clause.field, clause.op

    def norm(value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    values = [norm(v) for v in clause.values]
    if field == "key":
        values = [_key_tuple(v.upper()) for v in values]

    def read(issue: dict[str, Any]) -> Any:
        value = get(issue, field)
        if field == "key":
            return _key_tuple(value) if value else None
        if isinstance(value, list):
            return [norm(v) for v in value]
        return norm(value)

    if op == "empty":
        return lambda issue: read(issue) in (None, [], "")
    if op == "notempty":
        return lambda issue: read(issue) not in (None, [], "")
    if op in ("=", "in"):
        wanted = set(values)
        return lambda issue: _matches(read(issue), wanted)
    if op in ("!=", "notin"):
        wanted = set(values)
        return lambda issue: (v := read(issue)) is not None and not _matches(v, wanted)
    bound = values[0]
    compare = {
        ">": lambda a: a > bound,
        ">=": lambda a: a >= bound,
        "<": lambda a: a < bound,
        "<=": lambda a: a <= bound,
    }[op]
    return lambda issue: (v := read(issue)) is not None and compare(v)


def _matches(value: Any, wanted: set[Any]) -> bool:
    if isinstance(value, list):
        return any(v in wanted for v in value)
    return value in wanted


def clause_values(node: Any, field: str) -> list[Any]:
    """All literal values used with `field` in the tree (for project-visibility checks)."""
    if node is None:
        return []
    if isinstance(node, BoolNode):
        return [v for c in node.children for v in clause_values(c, field)]
    return list(node.values) if node.field == field else []
