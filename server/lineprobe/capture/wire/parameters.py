"""Capture parameters: bounds and defaults as the agent's wire defines them, checked here.

The table itself is ``lineprobe_agent.parameters`` (plain literals, shared with
the agent, whose decoder enforces the same bounds); front ends take their
defaults, option ranges and checks from here, and ``package.json``'s settings
are held to it by a test.
"""

from __future__ import annotations

import math

from lineprobe_agent import parameters as wire_parameters
from lineprobe_agent.parameters import Parameter

__all__ = ["Parameter", "bounds_text", "check", "default", "wire_parameters"]

DURATION_S = wire_parameters.DURATION_S
LEAKS_DURATION_S = wire_parameters.LEAKS_DURATION_S
FREQUENCY = wire_parameters.FREQUENCY
SLOW_MS = wire_parameters.SLOW_MS
FILE_SLOW_MS = wire_parameters.FILE_SLOW_MS
INTERVAL_S = wire_parameters.INTERVAL_S
DISK_INTERVAL_S = wire_parameters.DISK_INTERVAL_S
BUDGET_PERCENT = wire_parameters.BUDGET_PERCENT
SAMPLE_FRACTION = wire_parameters.SAMPLE_FRACTION
PROBE_ARGUMENT = wire_parameters.PROBE_ARGUMENT
PROBE_LENGTH_ARGUMENT = wire_parameters.PROBE_LENGTH_ARGUMENT
RATE_LIMIT = wire_parameters.RATE_LIMIT
MAX_HITS = wire_parameters.MAX_HITS


def bounds_text(parameter: Parameter, scale: float = 1.0) -> str:
    low, high = parameter.low * scale, parameter.high * scale
    number = (lambda x: f"{x:g}") if not parameter.integer else (lambda x: f"{int(x)}")
    return f"({number(low)}, {number(high)}]" if parameter.low_open else f"{number(low)}..{number(high)}"


def check(name: str, parameter: Parameter, value: float, scale: float = 1.0) -> str | None:
    """Why ``value`` (in units of ``scale`` times the parameter's) is out of bounds, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"{name} must be a number, got {value!r}"
    if parameter.integer and scale == 1.0 and not float(value).is_integer():
        return f"{name} must be a whole number, got {value!r}"
    low, high = parameter.low * scale, parameter.high * scale
    inside = (low < value if parameter.low_open else low <= value) and value <= high
    return None if inside else f"{name} must be in {bounds_text(parameter, scale)}, got {value!r}"


def default(parameter: Parameter) -> float:
    assert parameter.default is not None, parameter
    return parameter.default
