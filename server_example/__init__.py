"""The reference cartback receiver: a Starlette app wiring the SDK to HTTP.

``create_app(Settings.from_env())`` for production; ``python -m server_example`` for
the demo (receiver, demo order form and dashboard on an embedded SQLite file).
"""

from server_example.app import create_app
from server_example.settings import Settings

__all__ = ["Settings", "create_app"]
