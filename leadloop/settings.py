"""Django settings, read from the environment (see config.py and the README's configuration table)."""

import os
import secrets
from pathlib import Path

import dj_database_url

from leadloop.config import (
    env,
    env_bool,
    env_choice,
    env_int,
    env_list,
    leadloop_home,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent
HOME = leadloop_home()
SECRET_KEY = secret_key(HOME)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Behind a proxy that terminates TLS, requests arrive as http: trust its X-Forwarded-Proto so
# https origins (the hosted chat page posting to its own API) are recognised as our own.
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "anymail",
    "leadloop.core",
    "leadloop.compliance",
    "leadloop.quality",
    "leadloop.scoring",
    "leadloop.routing",
    "leadloop.nurture",
    "leadloop.capture",
    "leadloop.crm",
    "leadloop.analytics",
    "leadloop.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "leadloop.capture.middleware.PublicCaptureCorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "leadloop.urls"
WSGI_APPLICATION = "leadloop.wsgi.application"

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
            ],
        },
    },
]

# SQLite is the embedded default. WAL lets readers run beside the writer; IMMEDIATE takes the
# write lock at BEGIN so two writers queue on busy_timeout instead of failing with "database is
# locked" when a read transaction tries to upgrade.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; "
        "PRAGMA foreign_keys=ON; PRAGMA cache_size=-20000;"
    ),
}
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{HOME / 'leadloop.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend plus a queue for writers: see leadloop/core/sqlite/base.py for why.
    DATABASES["default"]["ENGINE"] = "leadloop.core.sqlite"
    DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
    DATABASES["default"]["TEST"] = {"NAME": str(HOME / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": env("TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("REDIS_URL"),
    }
    if env("REDIS_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "crm:login"
LOGIN_REDIRECT_URL = "crm:home"
LOGOUT_REDIRECT_URL = "crm:login"

STATIC_URL = "static/"
STATIC_ROOT = HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = HOME / "media"

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "leadloop@localhost")

# Outgoing SMS ("console", "file" or "twilio"; see core/sms.py) and the secret that signs
# every webhook leadloop calls (derived from SECRET_KEY when not set).
SMS_BACKEND = env_choice("SMS_BACKEND", "console", ("console", "file", "twilio"))
SMS_FILE = env("SMS_FILE", str(HOME / "sms.jsonl"))
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN")
TWILIO_FROM = env("TWILIO_FROM")
TWILIO_BASE_URL = env("TWILIO_BASE_URL")
LEADLOOP_WEBHOOK_SECRET = env("LEADLOOP_WEBHOOK_SECRET")

# Email providers through anymail (EMAIL_BACKEND=anymail.backends.postmark.EmailBackend, …):
# each ANYMAIL_<NAME> variable is anymail's <NAME> setting (ANYMAIL_POSTMARK_SERVER_TOKEN,
# ANYMAIL_MAILGUN_API_KEY, …). ANYMAIL_WEBHOOK_SECRET is the "user:password" (or several,
# comma-separated, while rotating) the provider's webhook calls carry. Unset, the webhooks
# refuse every call: anymail alone would take anyone's bounces and unsubscribes.
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): env(name)
    for name in {key.removesuffix("_FILE") for key in os.environ if key.startswith("ANYMAIL_")}
}
ANYMAIL["WEBHOOK_SECRET"] = env_list("ANYMAIL_WEBHOOK_SECRET") or [
    f"unset:{secrets.token_urlsafe(32)}"
]

# A lead-source API body is a handful of fields; anything far larger is a mistake or an attack.
LEADLOOP_MAX_BODY_BYTES = env_int("LEADLOOP_MAX_BODY_BYTES", 64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(LEADLOOP_MAX_BODY_BYTES, 2_621_440)
LEADLOOP_SWEEP_SECONDS = env_int("LEADLOOP_SWEEP_SECONDS", 30)

# The weekly digest to admins and managers: the weekday (0 = Monday) and UTC hour it goes out.
LEADLOOP_DIGEST_WEEKDAY = env_int("LEADLOOP_DIGEST_WEEKDAY", 0)
LEADLOOP_DIGEST_HOUR = env_int("LEADLOOP_DIGEST_HOUR", 7)

# Quality: where email domains are checked ("system", "off", or "host:port,…"), how long a
# lookup may take, per-hour submission limits, and the optional lookups.
LEADLOOP_DNS = env("LEADLOOP_DNS", "system")
LEADLOOP_DNS_TIMEOUT_MS = env_int("LEADLOOP_DNS_TIMEOUT_MS", 1500)
LEADLOOP_RATE_LIMIT_PER_IP = env_int("LEADLOOP_RATE_LIMIT_PER_IP", 20)
LEADLOOP_RATE_LIMIT_PER_EMAIL = env_int("LEADLOOP_RATE_LIMIT_PER_EMAIL", 5)
LEADLOOP_GEOIP_DB = env("LEADLOOP_GEOIP_DB")
LEADLOOP_ENRICHMENT_URL = env("LEADLOOP_ENRICHMENT_URL")
LEADLOOP_ENRICHMENT_TOKEN = env("LEADLOOP_ENRICHMENT_TOKEN")
LEADLOOP_ENRICHMENT_TIMEOUT_MS = env_int("LEADLOOP_ENRICHMENT_TIMEOUT_MS", 5000)
LEADLOOP_BENCH_FLOOR = env_bool("LEADLOOP_BENCH_FLOOR", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
