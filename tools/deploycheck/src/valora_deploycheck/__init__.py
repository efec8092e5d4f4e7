"""Offline validation of Valora deployment artefacts."""
