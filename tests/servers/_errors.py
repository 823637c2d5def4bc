"""Why a test server is not running."""

from __future__ import annotations


class ServerUnavailableError(RuntimeError):
    """The server cannot be started here: its program is not installed, or the test is not
    running in a private network namespace.  Tests skip on it (fail when CI is "true")."""


class ServerStartError(RuntimeError):
    """The server was started but did not come up; the message ends with its log tail."""


class ServerLoadError(RuntimeError):
    """Test data could not be stored on the server."""
