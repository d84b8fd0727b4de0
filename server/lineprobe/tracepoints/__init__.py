"""Kernel tracepoints: their formats, and records decoded by them (workshop lab 1)."""
