"""The web layer: FastAPI app factory, authentication, console, error handlers."""
