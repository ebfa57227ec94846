"""Programs that client frameworks run against the platform from virtualenvs of their own (``.venv-clients``)."""
