"""gunicorn settings for the lab server (`gunicorn -c deploy/gunicorn.conf.py workspace.wsgi`).

Threaded workers: an SSE stream of model output holds one thread, not a whole process.
"""

import multiprocessing
import os

bind = os.environ.get("CARREL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CARREL_WEB_PROCESSES", max(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("CARREL_WEB_THREADS", "16"))
timeout = 120  # a streamed answer sends bytes continually; this only ends stuck requests
graceful_timeout = 30
# Recycling workers drops their open SSE streams, so it is off unless asked for (a leak guard).
max_requests = int(os.environ.get("CARREL_WEB_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = "-"
forwarded_allow_ips = "127.0.0.1"
