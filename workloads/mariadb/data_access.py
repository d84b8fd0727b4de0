"""The workshop's database lab client (lab 6): an insert loop or a select loop against the lab
database (``lab_database.py``), as fast as one connection goes, for a time or until killed.

    python workloads/mariadb/data_access.py --socket S insert [--seconds N]
    python workloads/mariadb/data_access.py --socket S select [--seconds N] [--warm-up N]

``insert`` commits every row on its own (autocommit): each commit is a write and an
``fdatasync`` of InnoDB's redo log, ``ib_logfile0``, so block I/O follows every row.
``select`` reads rows by primary key at random from the table's first ``--rows``: after
``--warm-up`` seconds every page it touches is in InnoDB's buffer pool, so the steady loop asks
nothing of the disk or the page cache (what the workshop concluded: the database caches
internally). When done it prints ``inserted N`` or ``selected N``.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time

import pymysql


def insert_loop(connection: pymysql.connections.Connection, seconds: float, stop: threading.Event) -> int:
    done = 0
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and not stop.is_set():
            cursor.execute(
                "insert into items(name, payload, created) values (%s, %s, now())",
                (f"item-{done}", "x" * random.randrange(64, 1024)),
            )
            done += 1
    return done


def fill(connection: pymysql.connections.Connection, rows: int) -> None:
    """At least ``rows`` rows, inserted in one transaction (so quickly) when the table has fewer."""
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from items")
        (have,) = cursor.fetchone()
        missing = rows - int(have)
        if missing > 0:
            connection.autocommit(False)
            cursor.executemany(
                "insert into items(name, payload, created) values (%s, %s, now())",
                [(f"item-{i}", "y" * 512) for i in range(missing)],
            )
            connection.commit()
            connection.autocommit(True)


def select_loop(
    connection: pymysql.connections.Connection, seconds: float, rows: int, stop: threading.Event
) -> int:
    done = 0
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and not stop.is_set():
            cursor.execute("select name, payload from items where id = %s", (random.randint(1, rows),))
            cursor.fetchall()
            done += 1
    return done


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("loop", choices=["insert", "select"])
    parser.add_argument("--socket", required=True, help="the lab database's unix socket")
    parser.add_argument("--seconds", type=float, default=3600.0, help="how long the loop runs")
    parser.add_argument("--rows", type=int, default=20000, help="select: rows the table holds first")
    parser.add_argument("--warm-up", type=float, default=0.0, help="select: seconds of selects first")
    args = parser.parse_args()
    # SIGTERM ends the loop as its time would, so that the count is still printed.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    connection = pymysql.connect(unix_socket=args.socket, user="root", database="lab", autocommit=True)
    try:
        if args.loop == "insert":
            print(f"inserted {insert_loop(connection, args.seconds, stop)}", flush=True)
        else:
            fill(connection, args.rows)
            if args.warm_up > 0:
                select_loop(connection, args.warm_up, args.rows, stop)
                print("warm", flush=True)
            print(f"selected {select_loop(connection, args.seconds, args.rows, stop)}", flush=True)
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
