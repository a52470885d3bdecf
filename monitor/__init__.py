"""account-monitor: watch retailer accounts for lock and review states and alert the owner."""

__version__ = "0.1.0"
