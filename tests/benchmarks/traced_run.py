"""A workload run with a tracer attached to it, as the overhead benchmarks run them."""

from __future__ import annotations

import subprocess


def run_with_tracer(target: list[str], seconds: float, tracer: list[str] | None, window_s: int) -> str:
    """Start ``target``, then ``tracer`` (``{pid}`` and ``{seconds}`` filled in with the target's
    PID and ``window_s``); the target's stdout once it has ended. A tracer that fails ends the
    benchmark: the figure next to it would mean nothing."""
    process = subprocess.Popen(target, stdout=subprocess.PIPE, text=True)
    tracing = None
    argv: list[str] = []
    if tracer is not None:
        argv = [a.replace("{pid}", str(process.pid)).replace("{seconds}", str(window_s)) for a in tracer]
        tracing = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=seconds + 60)
    if tracing is not None:
        try:
            tracing.wait(30)
        except subprocess.TimeoutExpired:
            tracing.terminate()
            tracing.wait()
        if tracing.returncode not in (0, -15):
            err = (tracing.stderr.read() if tracing.stderr else "").strip()[-300:]
            raise SystemExit(f"{argv[0]} failed ({tracing.returncode}): {err}")
    return out
