"""The WSGI entry point: ``gunicorn -c docker/gunicorn.conf.py service.wsgi:app``."""

from service import create_app

app = create_app()
