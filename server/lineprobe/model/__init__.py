"""Plain data shared by every layer above: what the agent captured, before any resolution."""
