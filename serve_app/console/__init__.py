"""The console at ``/console``: a static single-page app over the admin API, and its OpenID Connect sign-in.

Every page's data comes from the admin API, called by the browser with the console's session cookie, so the
admin API alone decides what each role may see or do; the console only shows what it allows.
"""

from serve_app.console.logins import PendingLogins
from serve_app.console.routes import routes
from serve_app.console.sessions import ConsoleSessions

__all__ = ["ConsoleSessions", "PendingLogins", "routes"]
