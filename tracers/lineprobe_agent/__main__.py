"""Entry point: ``python -I -m lineprobe_agent`` speaks the protocol on its stdin socket.

Start it isolated (``-I``: no ``PYTHON*`` variables, no user site packages, no
current directory on ``sys.path``) from a root-owned installation; the agent
checks both before it serves anyone (``lineprobe_agent.session.main``).
"""

import time

_STARTED_AT = time.monotonic() - time.process_time()  # count the interpreter's own start-up

if __name__ == "__main__":
    import sys

    from lineprobe_agent.session import main

    sys.exit(main(_STARTED_AT))
