"""The findings core app: its messages (the services are ``mingyue.core.findings``)."""
