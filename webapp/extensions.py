"""Extension singletons, bound to the app in ``create_app``; the Huey instance is built here at
import time from the same environment as the app config, so the consumer finds it by import."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from huey import RedisHuey, SqliteHuey
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from webapp.config import queue_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def build_huey():
    settings = queue_settings()
    if settings["kind"] == "redis":
        return RedisHuey("lote", url=settings["url"])
    from pathlib import Path

    Path(settings["filename"]).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("lote", filename=settings["filename"])


huey = build_huey()
