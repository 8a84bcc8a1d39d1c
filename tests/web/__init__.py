"""Tests of portal.web: the web platform."""
