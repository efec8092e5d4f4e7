"""Subscribers and their handlers (requests, the validated stream, promotions), and the
service's start and stop."""
