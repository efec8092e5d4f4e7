"""Shared pytest configuration: the dev-stack fixtures (``devstack``) for integration tests."""

pytest_plugins = ["valora_devstack.pytest_plugin"]
