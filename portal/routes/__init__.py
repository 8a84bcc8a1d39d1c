"""Thin request handlers, grouped by audience."""
