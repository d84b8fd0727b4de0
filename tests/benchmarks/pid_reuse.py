"""PID reuse through the lineprobe service, 1,000 times (issue: least privilege): a throwaway
user in the service's group traces its own process, which exits and whose PID the kernel gives
to nobody's process, before the request, during set-up or mid-trace in turn. Counts the
newcomer's events that reached the caller (must be 0) and those the gate held back.

    python tests/benchmarks/pid_reuse.py [--reuses 1000]

Exits 1 if one event of a newcomer reached the caller. Needs root and ``make install-agent``.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tracers")]
from tests.privileged.agent_service import INSTALLED_PYTHON, connect_as, start_service, stop_service  # noqa: E402
from tests.privileged.pid_reuse import run_attempts  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reuses", type=int, default=1000)
    args = parser.parse_args()
    if os.geteuid() != 0 or not INSTALLED_PYTHON.exists():
        raise SystemExit("run as root after `make install-agent`")
    name = f"lp-reuse-{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--user-group", name], check=True)
    try:
        user = pwd.getpwnam(name)
        with tempfile.TemporaryDirectory(prefix="lineprobe-pid-reuse-") as scratch:
            os.chmod(scratch, 0o755)
            socket_path = Path(scratch) / "agent.sock"
            service = start_service(socket_path, group=name)
            try:
                connection = connect_as(socket_path, user.pw_uid, user.pw_gid, (user.pw_gid,))
                started = time.monotonic()
                try:
                    tally = run_attempts(connection, args.reuses, user.pw_uid, user.pw_gid, progress=True)
                finally:
                    connection.close()
            finally:
                stop_service(service)
    finally:
        subprocess.run(["userdel", name], capture_output=True)
    print(f"{tally.summary()} ({time.monotonic() - started:.0f} s)")
    return 1 if tally.newcomer_events or tally.reuses < args.reuses else 0


if __name__ == "__main__":
    sys.exit(main())
