"""A throwaway MariaDB server for the workshop's database lab (lab 6): Debian's ``mariadbd``,
its data and socket in a folder of the caller's, no network, stopped and removed afterwards.

    python workloads/mariadb/lab_database.py serve FOLDER   # until Ctrl-C; prints the socket

``mariadb-install-db`` creates the system tables, ``mariadbd --no-defaults`` ignores every
configuration file on the machine (so the lab behaves the same everywhere: InnoDB's defaults,
a redo log flushed at every commit), and the ``lab`` database gets one table, ``items``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
SCHEMA = (
    "create database if not exists lab;"
    " create table if not exists lab.items("
    "id int primary key auto_increment, name varchar(64), payload varchar(1024), created datetime)"
)


class LabDatabaseError(RuntimeError):
    pass


class LabDatabase:
    """``with LabDatabase(folder) as db:`` a running server on ``db.socket`` (``db.pid``)."""

    def __init__(self, folder: Path, extra_options: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.socket = folder / "mysqld.sock"
        self.error_log = folder / "error.log"
        self.extra_options = extra_options
        self._server: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._server is None:
            raise LabDatabaseError("the server is not running")
        return self._server.pid

    def client(self, *args: str) -> list[str]:
        return ["mariadb", f"--socket={self.socket}", *args]

    def start(self) -> LabDatabase:
        for tool in ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin"):
            if shutil.which(tool) is None:
                raise LabDatabaseError(f"{tool} is missing: apt-get install mariadb-server mariadb-client")
        self.folder.mkdir(parents=True, exist_ok=True)
        install = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--user=root"],
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:
            raise LabDatabaseError(f"mariadb-install-db failed: {install.stderr.strip()[-500:]}")
        self._server = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                "--user=root",
                f"--datadir={self.data}",
                f"--socket={self.socket}",
                f"--pid-file={self.folder / 'mysqld.pid'}",
                f"--log-error={self.error_log}",
                "--skip-networking",
                *self.extra_options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while subprocess.run(self.client("-e", "select 1"), capture_output=True).returncode != 0:
            if self._server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LabDatabaseError(f"mariadbd did not start: {self._log_tail()}")
            time.sleep(0.1)
        subprocess.run(self.client("-e", SCHEMA), check=True, capture_output=True)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if server.poll() is None:
            subprocess.run(
                ["mariadb-admin", f"--socket={self.socket}", "shutdown"], capture_output=True, timeout=60
            )
            try:
                server.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    def _log_tail(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")[-800:]
        except OSError:
            return "(no error log)"

    def __enter__(self) -> LabDatabase:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("folder", type=Path, help="where the data and the socket go (created; kept)")
    args = parser.parse_args()
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with LabDatabase(args.folder) as database:
            print(f"mariadbd {database.pid} ready on {database.socket}", flush=True)
            while not stop:
                time.sleep(0.2)
    except LabDatabaseError as error:
        print(f"lab_database: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
