"""Shared fixtures come from the mingyue.testing plugin."""

pytest_plugins = ["mingyue.testing"]
