"""Housekeeping: purging deleted videos, stale temporary files, checkpoint retention,
backup and restore (``python -m server.cli purge | backup | restore``)."""
