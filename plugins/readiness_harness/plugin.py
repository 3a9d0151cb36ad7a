"""Wired below."""
