"""Small fakes at the seams (the Fetcher protocol, the Apprise factory) for fast unit tests."""
