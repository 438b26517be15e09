"""Readers (one per source) and writers of results."""
