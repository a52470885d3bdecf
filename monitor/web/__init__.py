"""The web console: served by `monitor run` (and `monitor web`) in the daemon's own event loop."""
