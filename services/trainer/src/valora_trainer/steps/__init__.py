"""The training run as small steps, each a plain function testable alone.

snapshot -> split -> search -> fit -> evaluate -> register -> gate -> promote
"""
