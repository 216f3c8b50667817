"""The JSON API under /api, compatible with the system Lote replaces."""

from flask import Flask


def register_api(app: Flask) -> None:
    pass
