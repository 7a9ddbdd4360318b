"""Guided annotation: where to click next (suggestions) and click QA (flags)."""
