"""One capture by the real agent with something done while its window is open: the tests' way
of running a workload or a reference tool side by side with lineprobe, in the same seconds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def capture_while(
    kind: Any, pid: int, seconds: float, parameters: dict[str, Any], during: Callable[[], None] | None = None
) -> Any:
    """A capture of ``kind`` on ``pid`` (0: every task) for up to ``seconds``, with ``during``
    run once its window is open (its first "sampling" progress); the resolved result."""
    from lineprobe.capture.runner import CaptureRunner

    runner = CaptureRunner()
    tracing = threading.Event()
    answer: list[Any] = []
    failed: list[BaseException] = []

    def on_progress(message: Any) -> None:
        if message.phase == "sampling":
            tracing.set()

    def capture() -> None:
        try:
            answer.append(runner.capture(kind, pid, seconds, parameters, on_progress))
        except BaseException as error:
            failed.append(error)
            tracing.set()

    worker = threading.Thread(target=capture)
    worker.start()
    try:
        assert tracing.wait(90), "lineprobe never started tracing"
        if failed:
            raise failed[0]
        if during is not None:
            during()
    finally:
        worker.join(seconds + 90)
        runner.close()
    if failed:
        raise failed[0]
    assert answer, "the capture gave no answer"
    return answer[0]
