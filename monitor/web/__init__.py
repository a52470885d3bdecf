"""The web console: served by `monitor run` (and `monitor web`) in the daemon's own event loop."""

from monitor.web.app import make_app, reconfigure, serve

__all__ = ["make_app", "reconfigure", "serve"]
