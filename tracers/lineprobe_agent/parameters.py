"""Every request parameter's bounds and default, written once.

Plain literals, importable in a millisecond: ``protocol`` builds its request
types' constraints from this table (so the agent's decoder enforces them), and
the server's capture layer reads it for its own checks, its CLI options and
its LSP settings; a test holds the extension's ``package.json`` to it.
"""

from __future__ import annotations

from typing import NamedTuple


class Parameter(NamedTuple):
    low: float
    high: float
    default: float | None
    low_open: bool = False
    """The bound ``low`` itself is not allowed (``low < value``)."""
    unit: str = ""
    integer: bool = False


DURATION_S = Parameter(0, 3600, 5.0, low_open=True, unit="s")
"""Seconds of tracing: more than 0, at most an hour."""
LEAKS_DURATION_S = DURATION_S._replace(default=10.0)
"""Leak tracing watches blocks age: it defaults to a longer window."""
FREQUENCY = Parameter(1, 10000, 99, unit="Hz", integer=True)
"""CPU samples per second per CPU; 99 Hz stays out of lockstep with timers and costs well under 1 %."""
START_AT_EXEC = Parameter(0, 8, 0, integer=True)
"""Record the target's events from its Nth exec on (a launched command execs once or twice first)."""
TIME_BUCKET_MS = Parameter(0, 60000, 0, unit="ms", integer=True)
"""The width of a CPU profile's time buckets (0: no time); the server picks about 300 per profile."""
SLOW_MS = Parameter(0, 60000, 1.0, unit="ms")
"""File I/O calls at least this slow always get exemplars (subject to a rate limit)."""
FILE_SLOW_MS = SLOW_MS._replace(default=10.0)
"""``lineprobe files``: calls at least this slow are listed one by one (fileslower's default)."""
INTERVAL_S = Parameter(0.1, 600, 1.0, unit="s")
DISK_INTERVAL_S = Parameter(0, 3600, 0.0, unit="s")
"""``lineprobe disk``: a latency histogram per disk for each interval this long (0: one for the window)."""
"""How often the leak tracer snapshots outstanding bytes per site."""
BUDGET_PERCENT = Parameter(0.1, 100, 5.0, unit="%")
"""CPU the allocation probes may cost the target; sets the sampled fraction."""
SAMPLE_FRACTION = Parameter(0, 1, None, low_open=True)
"""Force the fraction of time allocations are tracked (None: the governor decides)."""
PROBE_ARGUMENT = Parameter(1, 12, None, integer=True)
"""A USDT argument by its 1-based number (sys/sdt.h passes at most 12)."""
PROBE_LENGTH_ARGUMENT = Parameter(0, 12, 0, integer=True)
"""The argument that holds a text argument's length (0: the text ends at its NUL)."""
RATE_LIMIT = Parameter(1, 1_000_000, 10_000, unit="/s", integer=True)
"""Probe hits sent a second, at most, when tracing them one by one (the rest are counted)."""
MAX_HITS = Parameter(1, 1_000_000, 100_000, integer=True)
"""Probe hits kept by one trace, at most (the rest are counted)."""
