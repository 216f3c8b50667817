"""An install that skipped ``pybabel compile`` says so, at start-up and on /health, instead of
silently showing English words on every Spanish page."""

import logging
import shutil
from pathlib import Path

import webapp

CATALOGS = Path(webapp.__file__).parent / "translations"


def test_compiled_catalogs_are_reported_on_health(client):
    health = client.get("/health").get_json()
    assert health["translations"] == "ok"
    assert health["status"] == "ok"


def test_an_app_without_compiled_catalogs_warns_at_start_and_health_reports_it(
    make_app, tmp_path, caplog
):
    shutil.copytree(CATALOGS, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.mo"))
    assert list(tmp_path.rglob("messages.po")) and not list(tmp_path.rglob("*.mo"))

    with caplog.at_level(logging.WARNING):
        app = make_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path))

    [warning] = [r for r in caplog.records if "Translation catalogs" in r.getMessage()]
    assert "es_AR" in warning.getMessage() and "pybabel compile" in warning.getMessage()
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json()["translations"] == "missing"
    assert response.get_json()["status"] == "degraded"
