"""tinymlp's inference service: ``create_app(config=None)``; gunicorn runs ``service.wsgi:app``."""

from __future__ import annotations

__version__ = "0.1.0"

from service.app import create_app

__all__ = ["__version__", "create_app"]
