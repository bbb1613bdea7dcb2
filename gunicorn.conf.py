"""gunicorn settings for tracker; `gunicorn wsgi:app` reads this file from the working directory.

Command-line options still win (`-w`, `-b`, `--graceful-timeout` as docs/deploy.md gives them).

On PostgreSQL, four threads per worker (gunicorn's gthread worker). With one thread, a worker
busy with a login (argon2id at production cost: ~0.15 s of CPU) or a long export page makes
every request sent to it wait in the listen queue: under the mixed load of bench/load_mixed.py
a trend read spent ~10 ms in the worker and up to ~200 ms (p99) queued behind others. argon2
and the database driver release the GIL, so another thread serves the read meanwhile; the
cores are then shared instead of taken in turn. Each thread holds at most one database
connection at a time (the pool keeps 5 plus 5 overflow per process, tracker/config.py) and a
hash in progress holds 64 MiB, so a worker needs up to ~256 MiB more while four logins hash
at once.

On SQLite, one thread (the sync worker): SQLite lets one transaction write at a time, and
threads only add writers waiting for its lock (bench/submission.py: with 4 threads a
submission's p99 was 5.3× a one-row insert's, against 1.4× with one). Override either
with GUNICORN_THREADS.
"""

import os


def default_threads(database_url: str) -> int:
    """Threads per worker for this database (the docstring above says why)."""
    return 4 if database_url.startswith("postgresql") else 1


threads = int(
    os.environ.get("GUNICORN_THREADS") or default_threads(os.environ.get("DATABASE_URL", ""))
)
