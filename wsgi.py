"""WSGI entry point: `gunicorn wsgi:app` or `flask --app wsgi ...`."""

import gc

from tracker import create_app

app = create_app()
# What start-up built (modules, mappers, schemas: ~190,000 objects) lives as long as the
# process; frozen, a full garbage collection no longer walks it. Unfrozen, the occasional
# full collection of a request added ~70 ms to it (bench/README.md, the trend's p99).
gc.freeze()
