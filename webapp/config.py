"""Settings read from the environment, with embedded defaults for a laptop demo.

The Huey instance (built at import, see ``extensions.py``) reads the same environment through
``queue_settings()`` so the web app and the consumer always agree on the queue.
"""

import os
from pathlib import Path

INSTANCE_DIR = Path(
    os.environ.get("LOTE_INSTANCE_DIR", Path(__file__).resolve().parent.parent / "instance")
)
DEFAULT_SECRET_KEY = "lote-development-only"
MIN_SECRET_KEY_LENGTH = 32
# Placeholders that have been published (in this code or in common examples): a key made from
# one is a key others can guess.
KNOWN_SECRET_KEYS = (DEFAULT_SECRET_KEY, "changeme", "change-me", "secret-key", "your-secret")
MAKE_SECRET_KEY = "python3 -c 'import secrets; print(secrets.token_hex(32))'"


def secret_key_problem(secret_key: str | None) -> str | None:
    """Why ``secret_key`` cannot sign production sessions and tokens, or None: it must be at
    least MIN_SECRET_KEY_LENGTH characters, of at least 8 different ones (not "aaaa..."), and
    hold no published placeholder."""
    key = secret_key or ""
    if (
        len(key) < MIN_SECRET_KEY_LENGTH
        or len(set(key)) < 8
        or any(known in key.lower() for known in KNOWN_SECRET_KEYS)
    ):
        return (
            f"SECRET_KEY must be set to a long random value (at least {MIN_SECRET_KEY_LENGTH} "
            f"characters, not a default) when LOTE_ENV=production; make one with: "
            f"{MAKE_SECRET_KEY}"
        )
    return None


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _list(name: str) -> list[str] | None:
    """A comma-separated setting as a list; None when it is unset or empty."""
    items = [item.strip() for item in os.environ.get(name, "").split(",")]
    return [item for item in items if item] or None


def queue_settings() -> dict:
    """Where the queue lives: Redis when REDIS_URL is set, a SQLite file otherwise."""
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return {"kind": "redis", "url": redis_url}
    return {"kind": "sqlite", "filename": str(INSTANCE_DIR / "queue.sqlite3")}


class Config:
    ENV_NAME = os.environ.get("LOTE_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'lote.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    BATCH_LEASE_SECONDS = _int("BATCH_LEASE_SECONDS", 30)
    # A failed attempt is retried after this delay, doubled each time: 2 s, 4 s, 8 s.
    BATCH_RETRY_DELAY_SECONDS = _float("BATCH_RETRY_DELAY_SECONDS", 2.0)
    BATCH_CLAIM_GRACE_SECONDS = _int("BATCH_CLAIM_GRACE_SECONDS", 5)
    # How long a store waits, its rows locked, for the store of the call before it to commit
    # before letting go of them and storing again after it (a store takes well under a second).
    STORE_WAIT_SECONDS = _float("STORE_WAIT_SECONDS", 2.0)
    ISSUE_DATE_WINDOW_DAYS = _int("ISSUE_DATE_WINDOW_DAYS", 10)
    # The most pendings POST /api/billing-batches/sync invoices while the client waits: at the
    # authority's usual pace that is well within the web server's 30-second timeout.
    SYNC_MAX_PENDINGS = _int("SYNC_MAX_PENDINGS", 2_000)
    CAE_LATENCY_MS = _int("CAE_LATENCY_MS", 0)
    CAE_FAILURE_RATE = _float("CAE_FAILURE_RATE", 0.0)
    # Calls the simulated authority carries out but whose answer is lost on the way back.
    CAE_LOST_ANSWER_RATE = _float("CAE_LOST_ANSWER_RATE", 0.0)
    # Where the simulated authority keeps its books; by default tables of its own in Lote's
    # database, written on connections of its own.
    AUTHORITY_DATABASE_URL = os.environ.get("AUTHORITY_DATABASE_URL")
    # The most vouchers issued outside Lote one reconciliation of a book brings in, each asked
    # of the authority: a request stays short; reconciling again brings in the rest.
    RECONCILE_MAX_VOUCHERS = _int("RECONCILE_MAX_VOUCHERS", 500)
    ERP_FAILURE_RATE = _float("ERP_FAILURE_RATE", 0.1)
    ERP_RANDOM_SEED = os.environ.get("ERP_RANDOM_SEED")
    TOKEN_MAX_AGE_SECONDS = _int("TOKEN_MAX_AGE_SECONDS", 8 * 3600)
    # werkzeug's strong default; not read from the environment, so a deployment cannot weaken
    # it by accident. Only the tests' configuration lowers it, to keep fixtures fast.
    PASSWORD_HASH_METHOD = "scrypt"
    MAX_PENDINGS_PER_BATCH = _int("MAX_PENDINGS_PER_BATCH", 100_000)

    # The host names the site answers to (".lote.example" covers its subdomains); any other Host
    # header is a 400. Unset, every Host is accepted: set it in production.
    TRUSTED_HOSTS = _list("TRUSTED_HOSTS")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 4 * 1024 * 1024

    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    # Sign-in must work while Redis is down: the limiter then counts in this process's memory.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # Sign-in attempts, pages and API together: per address and user name, and per address.
    SIGN_IN_RATE_PER_USER = "10 per minute"
    SIGN_IN_RATE_PER_ADDRESS = "30 per minute"

    BABEL_DEFAULT_LOCALE = "es_AR"
    BUSINESS_TIMEZONE = os.environ.get("BUSINESS_TIMEZONE", "America/Argentina/Buenos_Aires")
    BABEL_DEFAULT_TIMEZONE = BUSINESS_TIMEZONE
    LANGUAGES = {"es": "es_AR", "en": "en_US"}

    API_TITLE = "Lote API"
    API_VERSION = "1.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
