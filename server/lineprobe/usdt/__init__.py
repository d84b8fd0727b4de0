"""USDT probes: what files declare (``notes``), what a file or process offers (``listing``)."""
