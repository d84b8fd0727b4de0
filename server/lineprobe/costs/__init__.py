"""The one cost model: weighted stacks with typed cost columns, aggregated per line and function."""
