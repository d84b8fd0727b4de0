"""A leak trace as weighted stacks: what is still held, by call path, in the one cost model.

The columns are the outstanding bytes (primary: flame-graph widths and shares),
the outstanding blocks and the allocations made, per call path into the
allocator, so collapsed stacks, speedscope and the JSON stack report show a
leak trace the way they show a CPU profile (memleak's stacks, as a flame graph).
"""

from __future__ import annotations

from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.model import CostColumn, CostUnit, StackProfile, WeightedStack
from lineprobe.leaks.model import LeakTrace

OUTSTANDING_BYTES = CostColumn("outstanding", CostUnit.BYTES, "leak-bytes-line")
OUTSTANDING_BLOCKS = CostColumn("outstanding", CostUnit.BLOCKS)
ALLOCATIONS = CostColumn("allocation", CostUnit.CALLS)
COLUMNS = (OUTSTANDING_BYTES, OUTSTANDING_BLOCKS, ALLOCATIONS)


def outstanding_profile(trace: LeakTrace) -> StackProfile:
    """Every call path with its figures (rounded to whole bytes, blocks and calls: sampled traces
    are estimates); paths that hold nothing are kept, with their allocations."""
    stacks = [
        WeightedStack(
            (round(path.outstanding_bytes), round(path.outstanding_count), round(path.allocations)),
            list(path.stack),
        )
        for site in trace.sites
        for path in site.paths
    ]
    return stack_profile(
        trace.header, COLUMNS, stacks, list(trace.warnings), trace.timings, counters={"lost": trace.lost}
    )
