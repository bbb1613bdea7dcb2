"""gunicorn settings for tracker; `gunicorn wsgi:app` reads this file from the working directory.

Command-line options still win (`-w`, `-b`, `--graceful-timeout` as docs/deploy.md gives them).

Four threads per worker (gunicorn's gthread worker). With one thread, a worker busy with a
login (argon2id at production cost: ~0.14 s of CPU) or a long export page makes every
request sent to it wait in the listen queue: under the mixed load of bench/load_mixed.py a
read spent 7-12 ms (p50) in the worker and up to 190-330 ms (p99) queued behind others.
argon2 and the database driver release the GIL, so another thread serves the read
meanwhile; the cores are then shared instead of taken in turn (reads' p99 198 -> 115-135
ms in alternated runs; logins take about twice as long: docs/deploy.md). Each thread holds
at most one database connection at a time (the pool keeps 5 plus 5 overflow per process,
tracker/config.py) and a hash in progress holds 64 MiB, so a worker needs up to ~256 MiB
more while four logins hash at once. Override with GUNICORN_THREADS (1 gives the sync worker back).
"""

import os

threads = int(os.environ.get("GUNICORN_THREADS", "4"))
