"""The single version string; golden-vector headers record it."""

__version__ = "0.1.0"
