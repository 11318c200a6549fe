"""What an ExportedProgram archive may say in its strings, checked before torch reads them.

torch 2.13's deserializer gives every symbolic-shape expression (`expr_str`) to `sympy.sympify`, which evaluates
it as Python: a crafted `.pt2` runs code with no pickle involved. It also resolves each node's target string by
attribute lookup from `torch`, `operator` or `math`, so a graph may name any function there (`torch.save`, say)
and have it called when the program runs. Both are closed by allow-lists: an expression is accepted only when
its Python syntax tree is sympy arithmetic on symbols and numbers (the `srepr` form torch writes, or plain
infix), and a target only when it names a registered operator of a known namespace or one of the symbolic
arithmetic functions torch serializes.
"""
from __future__ import annotations

import ast
import re

# Callables an expression may name: sympy's number, arithmetic, relational and logic constructors, and the
# functions of torch.utils._sympy.functions that torch's deserializer puts in sympify's namespace.
SYMPY_CALLS = frozenset({
    "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "Max", "Min", "Abs", "Mod", "floor", "ceiling",
    "sqrt", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "StrictLessThan", "LessThan", "StrictGreaterThan",
    "GreaterThan", "Equality", "Unequality", "And", "Or", "Not", "Piecewise", "ExprCondPair",
    "BooleanTrue", "BooleanFalse", "true", "false",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
    "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
    "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat",
    "Identity", "OpaqueUnaryFn_sqrt",
})
# Keyword arguments sympy's srepr writes: a symbol's assumptions, a float's precision.
KEYWORDS = frozenset({
    "positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite", "infinite", "zero",
    "nonzero", "even", "odd", "rational", "commutative", "extended_real", "prime", "composite", "precision",
})
MAX_CHARS = 20_000            # a shape expression of a real network is a few hundred characters
MAX_INT = 2 ** 63             # shapes and strides are int64
MAX_EXPONENT = 64             # Pow(2, 10**9) would be a memory bomb, not arithmetic a shape needs
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z")
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.BitAnd, ast.BitOr)
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)

# Node targets: a registered operator of these namespaces, or a symbolic arithmetic function.
OP_NAMESPACES = ("aten", "prims", "higher_order", "quantized_decomposed", "quantized", "_quantized")
_OP_TARGET = re.compile(r"torch\.ops\.(%s)\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z"
                        % "|".join(OP_NAMESPACES))
SYM_TARGETS = frozenset({
    "_operator.eq", "_operator.ne", "_operator.le", "_operator.ge", "_operator.lt", "_operator.gt",
    "_operator.neg", "_operator.pos", "_operator.mul", "_operator.add", "_operator.sub", "_operator.floordiv",
    "_operator.mod", "_operator.pow", "_operator.truediv", "_operator.and_", "_operator.or_",
    "_operator.lshift", "_operator.rshift", "_operator.getitem", "math.trunc",
    "torch.sym_not", "torch.sym_int", "torch.sym_float", "torch.sym_ite", "torch.sym_max", "torch.sym_min",
    "torch.sym_sqrt",
})


def expression_problem(text: object) -> str | None:
    """None when `text` is a shape expression sympify may read safely, else why not (a few words)."""
    if not isinstance(text, str):
        return "not a string"
    if len(text) > MAX_CHARS:
        return f"{len(text)} characters long"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "not an expression"
    try:
        return _node_problem(tree.body)
    except RecursionError:
        return "nested too deeply"


def _node_problem(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or (isinstance(v, int) and abs(v) <= MAX_INT) or isinstance(v, float):
            return None
        return f"constant {str(v)[:40]!r}"
    if isinstance(node, ast.Name):
        return None if _NAME.match(node.id) else f"name {node.id[:40]!r}"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        return _node_problem(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
        if isinstance(node.op, ast.Pow) and not _small_exponent(node.right):
            return "a power with a large or symbolic exponent"
        return _node_problem(node.left) or _node_problem(node.right)
    if isinstance(node, ast.BoolOp):
        return next(filter(None, map(_node_problem, node.values)), None)
    if isinstance(node, ast.Compare) and all(isinstance(o, _CMPOPS) for o in node.ops):
        return next(filter(None, map(_node_problem, [node.left, *node.comparators])), None)
    if isinstance(node, ast.Call):
        return _call_problem(node)
    return f"{type(node).__name__} syntax"


def _call_problem(node: ast.Call) -> str | None:
    fn = node.func.id if isinstance(node.func, ast.Name) else None
    if fn not in SYMPY_CALLS:
        return f"a call of {ast.unparse(node.func)[:40]!r}"
    for kw in node.keywords:
        if kw.arg not in KEYWORDS or not (isinstance(kw.value, ast.Constant)
                                          and isinstance(kw.value.value, (bool, int))):
            return f"keyword {str(kw.arg)[:40]!r} of {fn}"
    for i, arg in enumerate(node.args):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            # strings are names of symbols and decimal digits of floats, nothing sympy would parse further
            ok = (fn == "Symbol" and i == 0 and _NAME.match(arg.value)) or \
                 (fn == "Float" and i == 0 and _NUMBER.match(arg.value))
            if not ok:
                return f"string {arg.value[:40]!r} given to {fn}"
        elif problem := _node_problem(arg):
            return problem
    if fn == "Pow" and (len(node.args) != 2 or not _small_exponent(node.args[1])):
        return "a power with a large or symbolic exponent"
    return None


def _small_exponent(node: ast.AST) -> bool:
    """An exponent written as a number of magnitude <= MAX_EXPONENT (Integer(-1), Rational(1, 2), 2.0...)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id == "Rational" and len(node.args) == 2:
            p, q = (_number(a) for a in node.args)
            return p is not None and q not in (None, 0) and abs(p / q) <= MAX_EXPONENT
        if node.func.id in ("Integer", "Float") and len(node.args) == 1:
            node = node.args[0]
    value = _number(node)
    return value is not None and abs(value) <= MAX_EXPONENT


def _number(node: ast.AST) -> float | None:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return None
    if isinstance(node.value, str):
        return sign * float(node.value) if _NUMBER.match(node.value) else None
    if isinstance(node.value, (int, float)) and abs(node.value) <= MAX_INT:
        return sign * float(node.value)
    return None


def target_problem(target: object) -> str | None:
    """None when a serialized node target names an operator the program may call, else why not."""
    if not isinstance(target, str):
        return "not a string"
    if _OP_TARGET.match(target) or target in SYM_TARGETS:
        return None
    return f"calls {target[:80]!r}"
