"""Valora validator service: ingested listings checked against a declarative data contract.

Start it with ``python -m valora_validator``; compose it with :func:`bootstrap.build_app`.
"""
