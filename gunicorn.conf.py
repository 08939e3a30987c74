# gunicorn settings for the tracker: `gunicorn -c gunicorn.conf.py wsgi:app`.
# The scheduler is NOT started here: it runs as its own process (`flask --app wsgi run-scheduler`).
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Several workers on PostgreSQL; on SQLite writers queue on the database lock, so a few are enough.
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = 60
graceful_timeout = 30
# Exports stream large files; keep-alive short behind a reverse proxy.
keepalive = 5
# No access log here: the app writes the one line per request (dispatch/logs.py), with the client's address,
# the bytes sent and the user, so a second line from gunicorn would only log every request twice.
accesslog = None
errorlog = "-"
