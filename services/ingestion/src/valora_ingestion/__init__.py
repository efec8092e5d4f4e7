"""Valora ingestion service: raw listings in any naming -> normalised ``IngestedListing``.

Start it with ``python -m valora_ingestion``; compose it with :func:`bootstrap.build_app`.
"""
