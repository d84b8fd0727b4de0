"""Entry point: ``python -m lineprobe_agent`` speaks the protocol on stdin/stdout."""

import time

_STARTED_AT = time.monotonic() - time.process_time()  # count the interpreter's own start-up

if __name__ == "__main__":
    import sys

    from lineprobe_agent.session import main

    sys.exit(main(_STARTED_AT))
