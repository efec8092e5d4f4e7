"""Valora drift monitor: data, prediction and realised-performance drift, alerts for on-call.

Start it with ``python -m valora_drift_monitor``; compose it with :func:`bootstrap.build_app`.
"""
