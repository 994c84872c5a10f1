"""IAM policy ``Condition`` blocks evaluated against a request's context, as AWS documents the operators.

A block holds operators, an operator holds keys, a key holds values: every operator and every key must
hold (AND), one of a key's values must match (OR; for a negated operator none may: NOR). Condition keys
are case-insensitive. A key missing from the context fails a positive operator and passes a negated one
(``StringNotEquals``, ``ArnNotLike``, ...), except ``...IfExists`` (passes) and ``Null`` (tests presence).
``ForAnyValue:`` / ``ForAllValues:`` compare a multi-valued key's values as sets (a missing key: false /
true). Modelled: the String, Arn, Numeric and Bool operators, ``Null``, ``...IfExists``, the set prefixes.
Not modelled: Date, IpAddress and Binary operators (the missing-key rule applies; with the key present
such a condition never holds) and policy variables (``${...}`` is compared as written).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Context = Mapping[str, Sequence[str]]  # lower-cased key -> its values in the request
Match = Callable[[str, str], bool]  # (context value, policy value) -> whether they match


@functools.lru_cache(maxsize=4096)
def wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcard: ``*`` any run of characters (``/`` and ``:`` too), ``?`` one character."""
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _arn(value: str, pattern: str) -> bool:
    """ArnEquals/ArnLike: each of the six colon-separated parts matched on its own, wildcards allowed."""
    got, want = value.split(":", 5), pattern.split(":", 5)
    return len(got) == len(want) == 6 and all(wildcard(w, False).fullmatch(g) for g, w in zip(got, want, strict=True))


def _number(compare: Callable[[float, float], bool]) -> Match:
    def match(value: str, pattern: str) -> bool:
        try:
            return compare(float(value), float(pattern))
        except ValueError:
            return False
    return match


POSITIVE: dict[str, Match] = {
    "StringEquals": lambda v, p: v == p,
    "StringEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
    "StringLike": lambda v, p: wildcard(p, False).fullmatch(v) is not None,
    "ArnEquals": _arn,
    "ArnLike": _arn,
    "NumericEquals": _number(lambda v, p: v == p),
    "NumericLessThan": _number(lambda v, p: v < p),
    "NumericLessThanEquals": _number(lambda v, p: v <= p),
    "NumericGreaterThan": _number(lambda v, p: v > p),
    "NumericGreaterThanEquals": _number(lambda v, p: v >= p),
    "Bool": lambda v, p: v.lower() == p.lower(),
}
NEGATED: dict[str, str] = {  # negated operator -> the positive one it negates
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def holds(condition: Any, context: Context) -> bool:
    """Whether a statement's ``Condition`` block holds for ``context``."""
    if not isinstance(condition, dict):
        return False
    return all(isinstance(keys, dict) and all(_key_holds(operator, key, values, context)
                                              for key, values in keys.items())
               for operator, keys in condition.items())


def keys_of(condition: Any) -> list[str]:
    """The condition keys a block names, as written."""
    if not isinstance(condition, dict):
        return []
    return [key for block in condition.values() if isinstance(block, dict) for key in block]


def _key_holds(operator: str, key: str, wanted: Any, context: Context) -> bool:
    patterns = [str(w).lower() if isinstance(w, bool) else str(w)
                for w in (wanted if isinstance(wanted, list) else [wanted])]
    present = key.lower() in context
    values = list(context.get(key.lower(), ()))
    qualifier, _, name = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        return False
    if name == "Null":  # a key's values: OR, as for any operator
        return any((p.lower() == "true") == (not present) for p in patterns)
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    negated = name in NEGATED or "Not" in name  # NotIpAddress, DateNotEquals: negated, if not modelled
    if not present:  # the documented rule, for every operator (modelled or not)
        return if_exists or qualifier == "ForAllValues" or (qualifier == "" and negated)
    match = POSITIVE.get(NEGATED.get(name, name))
    if match is None:
        return False  # with its key present, an operator the world does not model never holds

    def fits(value: str) -> bool:
        hit = any(match(value, p) for p in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(fits(v) for v in values)
    if qualifier == "ForAnyValue" or not negated:
        return any(fits(v) for v in values)
    return all(fits(v) for v in values)  # a negated single-valued key: none of its values may match
