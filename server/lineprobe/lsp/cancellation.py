"""`$/cancelRequest` that reaches the command it names.

pygls 2 runs ``workspace/executeCommand`` as a generator that yields to the
command's own coroutine, which runs as a second task; a cancel cancels only the
request's future, answers "cancelled" at once, and leaves the command running
(pygls issue 517's family). For lineprobe that meant a trace going on in the
agent after its request was answered. This protocol links the two: when a
request's future is cancelled, so is the handler task it yielded to, and the
command's own ``CancelledError`` handling stops its trace.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future as ThreadFuture
from typing import Any

from pygls.protocol import LanguageServerProtocol


class CancellableCommandsProtocol(LanguageServerProtocol):
    def _execute_handler(
        self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args=args, kwargs=kwargs)
        outer = callback.keywords.get("result_future") if isinstance(callback, functools.partial) else None
        inner = self._request_futures.get(msg_id)
        if outer is None or inner is None or isinstance(inner, ThreadFuture):
            return

        def cancel_inner(future: Any) -> None:
            if future.cancelled() and not inner.done():
                inner.cancel()

        outer.add_done_callback(cancel_inner)
