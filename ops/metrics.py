"""The one Prometheus text-format parser (``/metrics``): samples with names, labels and values."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|(?=}))')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    """One sample line: ``name{labels} value [timestamp]``; ``text`` is the value as written."""

    name: str
    value: float
    text: str
    labels: dict[str, str] = field(default_factory=dict)

    def named(self, metric: str) -> bool:
        """``metric`` itself or a namespaced form of it (``broker_pool_total`` is a ``pool_total``)."""
        return self.name == metric or self.name.endswith("_" + metric)


def parse(text: str) -> list[Sample]:
    """Every sample of a text exposition, in order; comments, blank and malformed lines are skipped."""
    samples = []
    for line in text.splitlines():
        sample = parse_line(line.strip())
        if sample is not None:
            samples.append(sample)
    return samples


def parse_line(line: str) -> Sample | None:
    """One line as a Sample, or None for a comment, a blank or a malformed line."""
    if not line or line.startswith("#"):
        return None
    name = _NAME.match(line)
    if name is None:
        return None
    rest, labels = line[name.end():], dict[str, str]()
    if rest.startswith("{"):
        parsed = _labels(rest)
        if parsed is None:
            return None
        labels, rest = parsed
    if not rest[:1].isspace():
        return None
    value_text = rest.split()[0]
    try:
        value = float(value_text)
    except ValueError:
        return None
    return Sample(name.group(), value, value_text, labels)


def _labels(text: str) -> tuple[dict[str, str], str] | None:
    """``{a="x", b="y z"} rest`` -> the labels and ``rest``; None when malformed."""
    labels: dict[str, str] = {}
    position = 1
    while True:
        closing = re.match(r"\s*}", text[position:])
        if closing:
            return labels, text[position + closing.end():]
        match = _LABEL.match(text, position)
        if match is None:
            return None
        labels[match.group(1)] = re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group()], match.group(2))
        position = match.end()


def totals(samples: list[Sample]) -> dict[str, float]:
    """Per metric name, the sum of its finite samples (labels summed over)."""
    summed: dict[str, float] = {}
    for sample in samples:
        if math.isfinite(sample.value):
            summed[sample.name] = summed.get(sample.name, 0.0) + sample.value
    return summed
