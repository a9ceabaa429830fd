"""Marshmallow schemas: one declaration gives a body's check and its OpenAPI document.

``common`` holds the strict fields and the error body; ``predict``, ``models``, ``train``
and ``v2`` the bodies of those endpoints. Requests are loaded strictly (unknown fields
refused); answers list the fields always present (clients ignore others).
"""
