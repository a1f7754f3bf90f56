"""Safe evaluation of the expressions written in BPMN diagrams.

This module is the only evaluator of diagram expressions: gateway conditions,
timer expressions, loop cardinalities and the like all go through it.  Diagrams
are untrusted input, so no text ever reaches Python's eval, exec or compile.
The text is parsed with ``ast.parse``, every node is checked against a
whitelist, and a small tree walker interprets the result.  It knows literals,
variable and record-key lookups, arithmetic, comparisons, boolean logic and
calls of registered functions -- nothing else.  Size limits keep a hostile
expression from consuming unbounded CPU or memory.
"""

from __future__ import annotations

import ast
import datetime
import decimal
import functools
import io
import keyword
import operator
import re
import reprlib
import tokenize
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "UnknownName",
           "compile_expression", "evaluate", "register_function"]

# Hand-written conditions are short; refusing long texts early bounds parse cost.
MAX_TEXT_LENGTH = 2000
# CPython's parser recurses per bracket level and can exhaust the C stack, so
# nesting is measured by a token scan before the text reaches ast.parse.
MAX_BRACKET_DEPTH = 32
# Bounds the work of checking and interpreting one expression.
MAX_NODES = 400
# Keeps the recursive interpreter far below Python's recursion limit.
MAX_DEPTH = 40
# Larger exponents turn ``**`` into a cheap way of building enormous numbers.
MAX_EXPONENT = 64
# ``*`` and ``+`` on strings, lists and tuples can allocate gigabytes from a few
# characters of text, so their result size is checked before it is built.
MAX_SEQUENCE_LENGTH = 100_000
# Several capped results can still add up; this is the budget of one evaluation.
MAX_ALLOCATION = 1_000_000
# A decimal power takes time growing steeply with the digits of its base
# (20,000 digits: about 20 s), while contract amounts have a few dozen at most.
MAX_POWER_DIGITS = 100
# Arithmetic on huge integers is super-linear, and no contract amount needs it.
MAX_INT_BITS = 4096

_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_SEQUENCES = (str, list, tuple)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_SCALARS = (str, int, float, Decimal, datetime.date, type(None))
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b, ast.Is: operator.is_, ast.IsNot: operator.is_not}
_ALLOWED_NODES = frozenset({
    ast.Constant, ast.Name, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Attribute, ast.Subscript,
    ast.Slice, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.IfExp,
    ast.Call, ast.keyword, *_UNARY, *_BINARY, *_COMPARE})
_SYMBOLS = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
            ast.RShift: ">>", ast.MatMult: "@", ast.Invert: "~"}
_REFUSED = {ast.Lambda: "lambda expressions", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
            ast.DictComp: "comprehensions", ast.GeneratorExp: "generator expressions", ast.Await: "await",
            ast.Yield: "yield", ast.YieldFrom: "yield", ast.NamedExpr: "assignment expressions (:=)",
            ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings", ast.Starred: "starred arguments (*args)"}
# JUEL operators that Python tokenizes as two tokens, and their Python spelling.
_JUEL_PAIRS = {("&", "&"): " and ", ("|", "|"): " or ", ("==", "="): "==", ("!=", "="): "!="}
_JUEL_WRAPPER = re.compile(r"\s*[$#]\{(.*)\}\s*", re.DOTALL)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60


class ExpressionError(ValueError):
    """An expression that cannot be parsed, is not allowed, or failed to evaluate."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(expression, reason)
        self.expression, self.reason = expression, reason

    def __str__(self) -> str:
        text = str(self.expression)
        return f"expression {text if len(text) <= 80 else text[:77] + '...'!r}: {self.reason}"


class UnknownName(ExpressionError):
    """The expression refers to a variable that the data does not hold."""

    def __init__(self, expression: str, name: str) -> None:
        super().__init__(expression, f"unknown name {name!r}")
        self.args = (expression, name)  # pickling re-creates the error from args
        self.name = name


def _brief(value: Any) -> str:
    try:
        return _BRIEF.repr(value)
    except Exception:  # e.g. an int too long to print
        return f"<{type(value).__name__}>"


def _explain(exc: Exception) -> str:
    if isinstance(exc, decimal.DecimalException):  # their messages are class lists
        return f"decimal arithmetic error: {type(exc).__name__}"
    message = str(exc)[:200]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class Expression:
    """A parsed and checked expression; evaluating it never runs arbitrary code."""

    __slots__ = ("text", "names", "functions", "_tree")
    text: str
    names: frozenset[str]
    functions: frozenset[str]

    def __init__(self, text: str, tree: ast.expr, names: frozenset[str], functions: frozenset[str]) -> None:
        self.text, self._tree, self.names, self.functions = text, tree, names, functions

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, variables: Mapping[str, Any], functions: Mapping[str, Callable] | None = None) -> Any:
        """Value over ``variables``, calling the registry merged with ``functions``.

        Raises UnknownName for a missing variable and ExpressionError for any
        other failure; no other exception escapes."""
        if not isinstance(variables, Mapping):
            raise TypeError(f"variables must be a mapping, not {type(variables).__name__}")
        available = FUNCTIONS if functions is None else {**FUNCTIONS, **functions}
        try:
            return _Evaluation(self.text, variables, available).run(self._tree)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(self.text, _explain(exc)) from exc


def compile_expression(text: str, functions: Iterable[str] | None = None) -> Expression:
    """Parse and check ``text`` without evaluating anything.

    ``functions`` names what the expression may call (default: the registry).
    Raises ExpressionError if the text is malformed, too large or not allowed."""
    if not isinstance(text, str):
        raise ExpressionError(_brief(text), "an expression must be a string")
    return _compile(text, frozenset(FUNCTIONS if functions is None else functions))


def evaluate(text: str, variables: Mapping[str, Any], functions: Mapping[str, Callable] | None = None) -> Any:
    """Compile and evaluate ``text``; the registry merged with ``functions`` is callable."""
    available = {**FUNCTIONS, **(functions or {})}
    return compile_expression(text, available).evaluate(variables, available)


# The same diagram expressions are evaluated over and over; parse each once.
@functools.lru_cache(maxsize=1024)
def _compile(text: str, allowed: frozenset[str]) -> Expression:
    if len(text) > MAX_TEXT_LENGTH:
        raise ExpressionError(text, f"expression is longer than {MAX_TEXT_LENGTH} characters")
    source = _prepare(text).strip()
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(text, f"syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(text, "expression is too complex") from None
    except ValueError as exc:
        raise ExpressionError(text, f"syntax error: {exc}") from None
    names, calls, count, pending = set(), set(), 0, [(tree, 1, None)]
    while pending:  # iterative: until it is checked, the tree may be too deep to recurse over
        node, depth, parent = pending.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionError(text, f"expression has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise ExpressionError(text, f"expression is nested more than {MAX_DEPTH} levels deep")
        reason = _refusal(node, parent, allowed)
        if reason:
            raise ExpressionError(text, reason)
        if type(node) is ast.Call:
            calls.add(node.func.id)
        elif type(node) is ast.Name and node.id not in _CONSTANTS and not (
                type(parent) is ast.Call and parent.func is node):
            names.add(node.id)
        pending.extend((child, depth + 1, node) for child in ast.iter_child_nodes(node)
                       if not isinstance(child, ast.expr_context))
    return Expression(text, tree, frozenset(names), frozenset(calls))


def _refusal(node: ast.AST, parent: ast.AST | None, allowed: frozenset[str]) -> str | None:
    """Why ``node`` is not allowed, or None when it is."""
    kind = type(node)
    if kind not in _ALLOWED_NODES:
        if kind in _SYMBOLS:
            return f"operator {_SYMBOLS[kind]!r} is not allowed"
        return f"not allowed: {_REFUSED.get(kind, kind.__name__)}"
    if kind is ast.Constant and node.value is not None and type(node.value) not in (str, int, float, bool):
        return f"{type(node.value).__name__} literals are not allowed"
    if kind is ast.Constant and type(node.value) is int and node.value.bit_length() > MAX_INT_BITS:
        return "integer literal is too large"
    if kind is ast.Name and node.id.startswith("_"):
        return f"name {node.id!r} is not allowed"
    if kind is ast.Attribute and node.attr.startswith("_"):
        return f"attribute {node.attr!r} is not allowed"
    if kind is ast.keyword and (node.arg is None or node.arg.startswith("_")):
        return f"keyword argument {node.arg or '**'!r} is not allowed"
    if kind is ast.Dict and None in node.keys:
        return "dict unpacking (**) is not allowed"
    if kind is ast.Slice and type(parent) is not ast.Subscript:
        return "a slice is only allowed directly inside [...]"
    if kind is ast.Call and type(node.func) is ast.Attribute:
        return "method calls are not allowed"
    if kind is ast.Call and type(node.func) is not ast.Name:
        return "only registered functions can be called, by their plain name"
    if kind is ast.Call and node.func.id not in allowed:
        return f"function calls are limited to: {', '.join(sorted(allowed)) or 'none'}"
    if kind is ast.BinOp:
        return _constant_blowup(node)
    return None


def _constant_value(node: ast.AST):
    """The value of a small constant sub-expression (numbers, strings, powers), else None."""
    if type(node) is ast.Constant:
        return node.value
    if type(node) is ast.UnaryOp and type(node.op) is ast.USub:
        inner = _constant_value(node.operand)
        return -inner if _is_number(inner) else None
    if type(node) is ast.BinOp and type(node.op) is ast.Pow:
        base, exponent = _constant_value(node.left), _constant_value(node.right)
        if type(base) is int and type(exponent) is int and 0 <= exponent <= MAX_EXPONENT \
                and abs(base).bit_length() * exponent <= MAX_INT_BITS:
            return base ** exponent
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _constant_blowup(node: ast.BinOp) -> str | None:
    """Refuse at compile time what would certainly blow up at run time, so a diagram carrying it is
    refused at deploy instead of failing later: huge constant exponents and repetitions."""
    if type(node.op) is ast.Pow:
        exponent = _constant_value(node.right)
        if type(node.right) is ast.BinOp and type(node.right.op) is ast.Pow and exponent is None:
            return f"exponent too large (at most {MAX_EXPONENT})"
        if _is_number(exponent) and abs(exponent) > MAX_EXPONENT:
            return f"exponent too large (at most {MAX_EXPONENT})"
    if type(node.op) is ast.Mult:
        left, right = _constant_value(node.left), _constant_value(node.right)
        for side, seq, count in ((node.left, left, right), (node.right, right, left)):
            if type(count) is not int:
                continue
            size = len(seq) if isinstance(seq, str) else len(side.elts) if type(side) in (ast.List, ast.Tuple) else None
            if size is not None and size * count > MAX_SEQUENCE_LENGTH:
                return f"result would be longer than {MAX_SEQUENCE_LENGTH} elements or characters"
        if (type(node.left) is ast.BinOp and type(node.left.op) is ast.Pow and left is None) or \
                (type(node.right) is ast.BinOp and type(node.right.op) is ast.Pow and right is None):
            return f"exponent too large (at most {MAX_EXPONENT})"
    return None


def _prepare(text: str) -> str:
    """Check bracket depth, unwrap ``${...}``/``#{...}`` and translate JUEL operators.

    Works on tokens, so string literals are never altered."""
    juel = _JUEL_WRAPPER.fullmatch(text)
    source = juel.group(1) if juel else text
    line_starts = [0] + [i + 1 for i, char in enumerate(source) if char == "\n"]
    edits, depth, previous = [], 0, None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.OP and token.string in ("(", "[", "{"):
                depth += 1
                if depth > MAX_BRACKET_DEPTH:
                    raise ExpressionError(text, f"brackets are nested more than {MAX_BRACKET_DEPTH} deep")
            elif token.type == tokenize.OP and token.string in (")", "]", "}"):
                depth -= 1
            if not juel or token.type not in (tokenize.OP, tokenize.ERRORTOKEN):
                continue
            start = line_starts[token.start[0] - 1] + token.start[1]
            end = line_starts[token.end[0] - 1] + token.end[1]
            pair = (previous[0], token.string) if previous and previous[2] == start else None
            if pair in _JUEL_PAIRS:
                edits.append((previous[1], end, _JUEL_PAIRS[pair]))
                previous = None
                continue
            if token.string == "!":  # '!=' is a token of its own, so this is JUEL's 'not'
                edits.append((start, end, " not "))
            previous = (token.string, start, end)
    except tokenize.TokenError as exc:
        raise ExpressionError(text, f"syntax error: {exc.args[0]}") from None
    except SyntaxError as exc:  # tokenize reports inconsistent indentation this way
        raise ExpressionError(text, f"syntax error: {exc.msg}") from None
    for start, end, replacement in reversed(edits):
        source = source[:start] + replacement + source[end:]
    return source


class _Evaluation:
    """One evaluation: interprets a checked tree and tracks what it allocates."""

    def __init__(self, text: str, variables: Mapping[str, Any], functions: Mapping[str, Callable]) -> None:
        self.text, self.variables, self.functions, self.allocated = text, variables, functions, 0

    def refuse(self, reason: str) -> None:
        raise ExpressionError(self.text, reason)

    def run(self, node: ast.AST) -> Any:
        return _HANDLERS[type(node)](self, node)

    def constant(self, node: ast.Constant) -> Any:
        return node.value

    def name(self, node: ast.Name) -> Any:
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if node.id not in self.variables:
            raise UnknownName(self.text, node.id)
        return self.variables[node.id]

    def sequence(self, node: ast.List | ast.Tuple | ast.Set) -> Any:
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](self.run(e) for e in node.elts)

    def mapping(self, node: ast.Dict) -> dict:
        return {self.run(key): self.run(value) for key, value in zip(node.keys, node.values)}

    def lookup(self, record: dict, key: Any) -> Any:
        if key not in record:  # checked first so that a defaultdict does not grow
            self.refuse(f"key {_brief(key)} not found")
        return record[key]

    def attribute(self, node: ast.Attribute) -> Any:
        record = self.run(node.value)
        if not isinstance(record, dict):
            self.refuse(f"'.{node.attr}' looks up a key of a record, not of a {type(record).__name__}")
        return self.lookup(record, node.attr)

    def subscript(self, node: ast.Subscript) -> Any:
        container = self.run(node.value)
        if type(node.slice) is ast.Slice:
            if not isinstance(container, _SEQUENCES):
                self.refuse(f"cannot slice a {type(container).__name__}")
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            bounds = [None if part is None else self.run(part) for part in parts]
            if any(bound is not None and not isinstance(bound, int) for bound in bounds):
                self.refuse("slice bounds must be integers")
            return container[slice(*bounds)]
        key = self.run(node.slice)
        if isinstance(container, dict):
            return self.lookup(container, key)
        if not isinstance(container, _SEQUENCES):
            self.refuse(f"cannot index a {type(container).__name__}")
        if not isinstance(key, int) or not -len(container) <= key < len(container):
            self.refuse(f"index {_brief(key)} is not an integer within range")
        return container[key]

    def unary(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self.run(node.operand))

    def binary(self, node: ast.BinOp) -> Any:
        left, right, kind = self.run(node.left), self.run(node.right), type(node.op)
        if kind is ast.Pow:
            if isinstance(right, (int, float, complex, Decimal)) and abs(right) > MAX_EXPONENT:
                self.refuse("exponent too large")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * abs(right) > MAX_INT_BITS:
                self.refuse("power is too large")
            if isinstance(left, Decimal) and len(left.as_tuple().digits) > MAX_POWER_DIGITS:
                self.refuse(f"a decimal raised to a power may have at most {MAX_POWER_DIGITS} digits")
        elif kind is ast.Mult:
            self.check_product(left, right)
        elif kind is ast.Add and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            self.charge(len(left) + len(right))
        elif kind is ast.Mod and isinstance(left, str):
            # '%' on a string is printf formatting: '%999999999d' alone exhausts memory.
            self.refuse("string formatting with % is not allowed")
        result = _BINARY[kind](left, right)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            self.refuse("integer result is too large")
        return result

    def check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, _SEQUENCES) and isinstance(right, int):
            sequence, count = left, right
        elif isinstance(right, _SEQUENCES) and isinstance(left, int):
            sequence, count = right, left
        else:
            if isinstance(left, int) and isinstance(right, int) \
                    and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
                self.refuse("integer result is too large")
            return
        if isinstance(sequence, str):
            size = len(sequence)
        else:
            # Repetition aliases its items, and comparing two such lists costs the
            # product of the sizes: only flat lists repeat, strings count by length.
            if any(isinstance(item, _CONTAINERS) for item in sequence):
                self.refuse("only lists of plain values can be repeated")
            size = sum(len(item) if isinstance(item, str) else 1 for item in sequence)
        self.charge(size * max(count, 0))

    def charge(self, size: int) -> None:
        if size > MAX_SEQUENCE_LENGTH:
            self.refuse(f"result would be longer than {MAX_SEQUENCE_LENGTH} elements or characters")
        self.allocated += size
        if self.allocated > MAX_ALLOCATION:
            self.refuse(f"expression builds more than {MAX_ALLOCATION} elements or characters")

    def boolean(self, node: ast.BoolOp) -> Any:
        stop_when = type(node.op) is ast.Or  # 'and' stops at a falsy value, 'or' at a truthy one
        for operand in node.values:
            value = self.run(operand)
            if bool(value) is stop_when:
                return value
        return value

    def compare(self, node: ast.Compare) -> Any:
        left, result = self.run(node.left), True
        for op, operand in zip(node.ops, node.comparators):
            right = self.run(operand)
            result = _COMPARE[type(op)](left, right)
            if not result:
                return result
            left = right
        return result

    def conditional(self, node: ast.IfExp) -> Any:
        return self.run(node.body if self.run(node.test) else node.orelse)

    def call(self, node: ast.Call) -> Any:
        name = node.func.id
        function = self.functions.get(name)
        if function is None:
            self.refuse(f"function {name!r} is not available")
        args = [self.run(argument) for argument in node.args]
        kwargs = {argument.arg: self.run(argument.value) for argument in node.keywords}
        try:
            return function(*args, **kwargs)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(self.text, f"{name}() failed: {_explain(exc)}") from exc


_HANDLERS: dict[type, Callable[[_Evaluation, Any], Any]] = {
    ast.Constant: _Evaluation.constant, ast.Name: _Evaluation.name, ast.List: _Evaluation.sequence,
    ast.Tuple: _Evaluation.sequence, ast.Set: _Evaluation.sequence, ast.Dict: _Evaluation.mapping,
    ast.Attribute: _Evaluation.attribute, ast.Subscript: _Evaluation.subscript, ast.UnaryOp: _Evaluation.unary,
    ast.BinOp: _Evaluation.binary, ast.BoolOp: _Evaluation.boolean, ast.Compare: _Evaluation.compare,
    ast.IfExp: _Evaluation.conditional, ast.Call: _Evaluation.call}

FUNCTIONS: dict[str, Callable[..., Any]] = {}


def register_function(name: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator making a function callable from expressions as ``name`` (default:
    its own name).  The function is trusted code receiving untrusted arguments."""
    if callable(name):  # used bare, as @register_function
        return register_function(None)(name)

    def register(function: Callable) -> Callable:
        key = name or function.__name__
        if not key.isidentifier() or key.startswith("_") or keyword.iskeyword(key) or key in _CONSTANTS:
            raise ValueError(f"cannot register an expression function as {key!r}")
        FUNCTIONS[key] = function
        return function

    return register


def _check_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise OverflowError("integer result is too large")
    return value


@register_function("Decimal")
def _to_decimal(value: str | int | float | Decimal = "0") -> Decimal:
    """Exact decimal of a string or integer; a float goes through str(), so 0.1 stays 0.1."""
    if isinstance(value, float):
        value = str(value)
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise TypeError(f"Decimal() takes a string or a number, not {type(value).__name__}")
    return Decimal(value)


@register_function("int")
def _to_int(value: Any = 0, base: int | None = None) -> int:
    """Integer of a number or numeric string, within MAX_INT_BITS."""
    # int(Decimal('1e999999')) would build a million-digit integer before any check.
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_INT_BITS // 3:
        raise OverflowError("number is too large for an integer")
    if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
        raise ValueError("text is too long to convert")
    return _check_int(int(value) if base is None else int(value, base))


@register_function("round")
def _round(number: Any, ndigits: int | None = None) -> Any:
    """Python's round(); the digits are limited like exponents, since round(n, -k) computes 10**k."""
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > MAX_EXPONENT):
        raise ValueError(f"round() digits must be an integer between -{MAX_EXPONENT} and {MAX_EXPONENT}")
    if ndigits is None and isinstance(number, Decimal):
        return _to_int(number.to_integral_value(decimal.ROUND_HALF_EVEN))
    return round(number, ndigits)


@register_function("sum")
def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    """Total of numbers; strings and lists are not concatenated."""
    items = list(values)
    if not all(isinstance(item, (int, float, Decimal)) for item in [start, *items]):
        raise TypeError("sum() adds numbers only")
    return _check_int(sum(items, start))


@register_function("str")
def _to_str(value: Any = "") -> str:
    """Text of a plain value; containers are refused because their text can be huge."""
    if not isinstance(value, _SCALARS):
        raise TypeError(f"str() takes a plain value, not {type(value).__name__}")
    return str(value)


@register_function("date")
def _to_date(value: str | datetime.date) -> datetime.date:
    """Calendar date of an ISO 'YYYY-MM-DD' string; a date or datetime gives its date."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"date() expects 'YYYY-MM-DD', got {_brief(value)}")
    return datetime.date.fromisoformat(value)


register_function("len")(len)
register_function("abs")(abs)
# Wrapped so that no key= callable can be handed to the builtins.
register_function("min")(lambda *values: min(*values))
register_function("max")(lambda *values: max(*values))
