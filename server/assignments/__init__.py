"""Assignments and review: who annotates which video, submitted work, reviewers' verdicts."""
