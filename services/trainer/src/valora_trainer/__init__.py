"""Valora trainer service: training store, Optuna search, MLflow registry, gate, promotion."""
