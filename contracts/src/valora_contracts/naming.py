"""Naming rules shared by the registry and the events that name topics."""

from __future__ import annotations

__all__ = ["REPLY_TOPIC_PATTERN", "REPLY_TOPIC_PREFIX", "REPLY_TOPIC_SUFFIX"]

REPLY_TOPIC_PREFIX = "predictions.replies."
REPLY_TOPIC_SUFFIX = ".v1"
REPLY_TOPIC_PATTERN = r"^predictions\.replies\.[a-z0-9_-]{1,100}\.v1$"
"""A gateway instance's reply topic: ``predictions.replies.<instance>.v1``, the instance part
lowercase letters, digits, ``_`` and ``-``, at most 100 characters."""
