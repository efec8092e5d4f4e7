"""Read models: what a service or tool may read of a table another service owns.

A reader goes through these small, typed queries, never through the writer's internals.
"""
