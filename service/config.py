"""The service's configuration: a frozen dataclass of the settings it reads, built from their
one declaration in ``core.settings`` (a field per variable, ``TINYMLP_MAX_ROWS`` ->
``max_rows``, its default from there). ``Config.from_env()`` reads and checks them; a value
that cannot work stops the service with a message naming the variable, except a job
database URL, which only turns training off (``unusable`` says why). Tests build a
``Config`` directly, pointing at a temporary folder, with ``start_reloader=False`` to drive
reloads by hand."""

from __future__ import annotations

from core import settings

Config = settings.config_class("service", extra={"start_reloader": (bool, True)})
