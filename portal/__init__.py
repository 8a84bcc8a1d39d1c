"""Innsyn: a self-service data-subject rights portal."""

__version__ = "0.1.0"
