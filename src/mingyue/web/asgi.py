"""ASGI entry point for uvicorn: ``mingyue.web.asgi:app`` (settings from the environment)."""

from mingyue.web.app import create_app

app = create_app()
