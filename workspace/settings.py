"""Carrel's one settings module. Everything that varies between machines is an env variable.

CARREL_ENV=local (default) is a single person on localhost; CARREL_ENV=production is the
lab server (DEBUG off, SECRET_KEY required, secure cookies). See docs/deploy.md.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from workspace.env import (
    env_bool,
    env_count,
    env_float,
    env_int,
    env_list,
    env_optional,
    env_str,
    local_secret_key,
    secret_key_problem,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CARREL_VAR_DIR", str(BASE_DIR / "var")))

CARREL_ENV = env_str("CARREL_ENV", "local")
if CARREL_ENV not in {"local", "production"}:
    raise ImproperlyConfigured("CARREL_ENV must be 'local' or 'production'")
PRODUCTION = CARREL_ENV == "production"

# A lab server never shows Django's debug pages, whatever DEBUG says.
DEBUG = env_bool("DEBUG", False) and not PRODUCTION
_secret = env_optional("SECRET_KEY")
if _secret is None:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when CARREL_ENV=production")
    _secret = local_secret_key(VAR_DIR)
elif PRODUCTION and (_problem := secret_key_problem(_secret)):
    raise ImproperlyConfigured(
        f"SECRET_KEY {_problem} (for example: python -c "
        "'import secrets; print(secrets.token_urlsafe(50))')"
    )
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "django_htmx",
    "workspace",
    "research",
    "stories",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workspace.middleware.LoginRequiredMiddleware",
    "workspace.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the page that says so
]

ROOT_URLCONF = "workspace.urls"
WSGI_APPLICATION = "workspace.wsgi.application"
ASGI_APPLICATION = "workspace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspace.context_processors.carrel",
            ],
        },
    },
]

# Database: SQLite by default, PostgreSQL (or anything dj-database-url reads) from DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'carrel.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# A file, not :memory:, so that Celery worker processes in tests share the test database.
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"]["NAME"] = str(VAR_DIR / "test-carrel.sqlite3")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password guessing (django-axes, workspace/signin.py): a username is paused for one client
# address after CARREL_LOGIN_FAILURE_LIMIT wrong passwords, at /accounts/login/ and in the
# admin alike. CARREL_PROXY_COUNT: reverse proxies in front of Carrel (nginx on a lab
# server) whose X-Forwarded-For names the client. docs/deploy.md.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("CARREL_LOGIN_LOCKOUT", True)
AXES_FAILURE_LIMIT = env_int("CARREL_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=max(1, env_int("CARREL_LOGIN_LOCKOUT_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # failures are kept; successful sign-ins are not logged
AXES_VERBOSE = False  # still logs each failure and lockout, without a banner at every start
AXES_CLIENT_IP_CALLABLE = "workspace.signin.client_ip"
AXES_LOCKOUT_CALLABLE = "workspace.signin.lockout_response"
CARREL_PROXY_COUNT = env_int("CARREL_PROXY_COUNT", 1 if PRODUCTION else 0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
CARREL_ALLOW_SIGNUP = env_bool("CARREL_ALLOW_SIGNUP", not PRODUCTION)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_USE_FINDERS = not PRODUCTION  # serve static/ directly, no collectstatic needed locally
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads: the largest file, and how much each user may store in all (0: no limit; a lab
# server defaults to 10 GB a user). Checked by research.services.storage_quota_check.
CARREL_MAX_UPLOAD_BYTES = env_int("CARREL_MAX_UPLOAD_MB", 200) * 1024 * 1024
CARREL_USER_STORAGE_BYTES = env_int("CARREL_USER_STORAGE_MB", 10240 if PRODUCTION else 0) * 1024**2
# Pages of a PDF, or sections of a text or Markdown file (about 60 lines, or one per
# heading), read from one document at most (0: no limit). docs/deploy.md.
CARREL_MAX_DOCUMENT_PAGES = env_int("CARREL_MAX_DOCUMENT_PAGES", 5000)
# Fair use of the model: questions one person may have queued or being answered at once
# (0: no limit). A further question is refused with a message, its text kept in the form.
CARREL_MAX_QUESTIONS_IN_FLIGHT = env_count("CARREL_MAX_QUESTIONS_IN_FLIGHT", 3)
# Fair use of the web server's threads: live streams (answers, story turns) one person may
# hold open at once (0: no limit). workspace/jobs/stream_slots.py, docs/deploy.md.
CARREL_MAX_OPEN_STREAMS = env_count("CARREL_MAX_OPEN_STREAMS", 4)
# The longest one ingestion task (a page range, chunking, one passage's summary, the
# reduction) may run before it is stopped and its document failed with a message (0: no
# limit); and how often a document's work is restarted after its worker stopped before
# the document is failed instead. research/library/tasks.py, docs/deploy.md.
CARREL_INGEST_TASK_MINUTES = env_int("CARREL_INGEST_TASK_MINUTES", 15)
CARREL_INGEST_MAX_RESUMES = env_int("CARREL_INGEST_MAX_RESUMES", 2)
# OCR of scanned PDF pages (research/library/ocr.py): the engine, the tesseract command
# (found on PATH when empty), its language data, the rendering resolution, and how long one
# page may take.
CARREL_TESSERACT = env_str("CARREL_TESSERACT", "")
# "vision": when the active Ollama model lists the vision capability, it transcribes scanned
# pages from their images instead (Tesseract still reads a page the model fails on).
CARREL_OCR_ENGINE = env_str("CARREL_OCR_ENGINE", "tesseract")
CARREL_OCR_LANGUAGE = env_str("CARREL_OCR_LANGUAGE", "eng")
CARREL_OCR_DPI = env_int("CARREL_OCR_DPI", 300)
CARREL_OCR_PAGE_SECONDS = env_int("CARREL_OCR_PAGE_SECONDS", 120)
# Imports into stories: a campaign file, and a SillyTavern lorebook (size and entries).
CARREL_CAMPAIGN_IMPORT_MAX_BYTES = env_int("CARREL_CAMPAIGN_IMPORT_MAX_MB", 50) * 1024**2
CARREL_LOREBOOK_MAX_BYTES = env_int("CARREL_LOREBOOK_MAX_MB", 5) * 1024**2
CARREL_LOREBOOK_MAX_ENTRIES = env_int("CARREL_LOREBOOK_MAX_ENTRIES", 2000)
# Study jobs (flashcards, timelines, comparisons, summaries) one person may have queued or
# running at once (0: no limit); research.study.services refuses more with a message.
CARREL_MAX_JOBS_IN_FLIGHT = env_int("CARREL_MAX_JOBS_IN_FLIGHT", 3)
# Bibliography imports (research/library/bibimport.py): the .bib / .json / .zip uploaded,
# its entries, and the files a .zip may hold; each attachment is also an upload.
CARREL_BIB_IMPORT_MAX_BYTES = env_int("CARREL_BIB_IMPORT_MAX_MB", 2048) * 1024**2
CARREL_BIB_IMPORT_MAX_ENTRIES = env_int("CARREL_BIB_IMPORT_MAX_ENTRIES", 1000)
CARREL_BIB_IMPORT_MAX_MEMBERS = env_int("CARREL_BIB_IMPORT_MAX_MEMBERS", 5000)
# Bulk uploads (research/library/bulkimport.py): files one upload may add (a .zip's
# members count one each), and the size and member count of one .zip; each file is also
# held to CARREL_MAX_UPLOAD_MB and the storage quota.
CARREL_BULK_MAX_FILES = env_int("CARREL_BULK_MAX_FILES", 500)
CARREL_BULK_ZIP_MAX_BYTES = env_int("CARREL_BULK_ZIP_MAX_MB", 2048) * 1024**2
CARREL_BULK_ZIP_MAX_MEMBERS = env_int("CARREL_BULK_ZIP_MAX_MEMBERS", 1000)
# A character card file (a PNG carries its picture too); the card's JSON inside a PNG is
# held to CARREL_LOREBOOK_MAX_MB.
CARREL_CARD_MAX_BYTES = env_int("CARREL_CARD_MAX_MB", 20) * 1024**2
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Django's own cap on files in one request (its default is 100): a bulk upload's limit is
# CARREL_BULK_MAX_FILES, checked with a message; this only stops what is far beyond it.
DATA_UPLOAD_MAX_NUMBER_FILES = CARREL_BULK_MAX_FILES + 10
# Django's cap on fields in one request (default 1,000): a lorebook's preview sends one
# kind per entry, up to CARREL_LOREBOOK_MAX_ENTRIES.
DATA_UPLOAD_MAX_NUMBER_FIELDS = max(1000, CARREL_LOREBOOK_MAX_ENTRIES + 50)

# Redis and Celery
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 24 * 3600
# A worker that finishes a task while Redis restarts keeps trying to store the result (which
# chords count on) until Redis is back, instead of failing the chord (tests/workspace/
# test_faults.py). Backoff from 100 ms doubling to 10 s between tries.
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 100
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 10_000
# Queues, in the order a worker that consumes several of them takes work (the "priority"
# strategy: it always empties an earlier queue first):
#   model   interactive model calls a person is waiting for (questions, research.qa_tasks,
#           story turns: stories.tasks.run_turn)
#   carrel  housekeeping (resuming stalled documents)
#   ingest  file work: extraction by page range, counting, chunking, indexing
#   batch   background model calls: document summaries, study generation, campaign
#           summaries and entity proposals (stories.tasks)
# A worker with no --queues consumes all four. runcarrel and the systemd units give `model`
# its own worker, so a question never waits for a batch task to finish (docs/deploy.md).
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name) for name in ("model", "carrel", "ingest", "batch")
]
# Within the batch queue, document summaries are the lowest priority: on Redis a message's
# priority picks one of four lists per queue (0, 3, 6, 9; 0 is taken first, and a message
# without one counts as 0), so a study job queued after ten thousand summary calls is still
# taken before them. Questions are on their own queue and worker, never behind either.
SUMMARY_PRIORITY = 9
CELERY_TASK_DEFAULT_QUEUE = "carrel"
CELERY_TASK_ROUTES = {
    "research.tasks.resume_stale_documents": {"queue": "carrel"},
    "research.tasks.start_idle_summaries": {"queue": "carrel"},
    "research.tasks.summarize_*": {"queue": "batch", "priority": SUMMARY_PRIORITY},
    "research.tasks.embed_missing_vectors": {"queue": "carrel"},
    "research.tasks.embed_document": {"queue": "batch", "priority": SUMMARY_PRIORITY},
    "research.tasks.*": {"queue": "ingest"},
    "research.qa_tasks.*": {"queue": "model"},
    "research.study_tasks.*": {"queue": "batch"},
    "stories.tasks.run_turn": {"queue": "model"},  # an exact name wins over the pattern
    "stories.tasks.*": {"queue": "batch"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task that outlives this is redelivered to another worker when acks_late is on.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "queue_order_strategy": "priority",
}
CELERY_BEAT_SCHEDULE = {
    "resume-stale-documents": {"task": "research.tasks.resume_stale_documents", "schedule": 60.0},
    # Projects whose summaries run "when idle" (research/library/summary_lane.py).
    "start-idle-summaries": {"task": "research.tasks.start_idle_summaries", "schedule": 60.0},
    # Documents whose chunks lack vectors of CARREL_EMBED_MODEL (research/library/vectors.py).
    "embed-missing-vectors": {"task": "research.tasks.embed_missing_vectors", "schedule": 300.0},
}

# Redis is always there (runcarrel starts a private one), so the cache is shared by the web
# and worker processes: the Ollama backend keeps its record of recent prompts here.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if env_bool("CARREL_CACHE_REDIS", True)
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "carrel",
    }
}

# The model runtime (workspace/runtime). CARREL_BACKEND=auto uses Ollama when it answers
# and has the model, otherwise the embedded llama.cpp demo model.
CARREL_BACKEND = env_str("CARREL_BACKEND", "auto")
# The scripted backend (tests, benchmarks) takes this long per call, like a model server.
CARREL_SCRIPTED_DELAY_MS = env_int("CARREL_SCRIPTED_DELAY_MS", 0)
OLLAMA_HOST = env_str("OLLAMA_HOST", "http://127.0.0.1:11434")
OLLAMA_MODEL = env_str("CARREL_MODEL", "gemma4:e4b")
OLLAMA_TIMEOUT = env_float("OLLAMA_TIMEOUT", 600.0)
OLLAMA_KEEP_ALIVE = env_str("OLLAMA_KEEP_ALIVE", "30m")
OLLAMA_THINK = env_bool("OLLAMA_THINK", False)
# Extra tag=window pairs, e.g. "mymodel:7b=32768,gemma4:e4b=65536".
CARREL_CONTEXT_WINDOWS = env_list("CARREL_CONTEXT_WINDOWS", [])
# A smaller num_ctx than the model's full window (Ollama allocates KV memory for all of it).
CARREL_NUM_CTX = env_int("CARREL_NUM_CTX", 0)
EMBEDDED_GGUF_PATH = env_optional("CARREL_GGUF_PATH")
EMBEDDED_N_CTX = env_int("CARREL_EMBEDDED_N_CTX", 8192)
EMBEDDED_THREADS = env_int("CARREL_EMBEDDED_THREADS", 0)
TOKENIZER_GGUF_PATH = env_optional("CARREL_TOKENIZER_GGUF")
# An Ollama embedding model (e.g. "embeddinggemma"): when Ollama has it, chunks are embedded
# on the batch lane once indexed and questions fuse the stored vectors' similarity with the
# full-text ranking (research/library/vectors.py). Empty: the full-text ranking alone.
CARREL_EMBED_MODEL = env_str("CARREL_EMBED_MODEL", "").strip()

# Security: strict by default, strictest in production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # An intranet host cannot be on the browsers' public preload list, so preload stays off
    # and its deploy-check warning is silenced on purpose (docs/deploy.md).
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
