"""Which model version a predictor serves, read from its ``/metrics``.

Every predictor exports ``valora_predictor_model_version{model_name, model_version} 1`` for the
champion it serves (the gauge is swapped with the model). ``valora train --wait`` polls it so it
returns only once every given predictor serves the new champion: a ``/predict`` straight after
is answered by that version, not ``503 no_champion`` or the former champion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["CHALLENGER_METRIC", "SERVED_METRIC", "served_version", "wait_until_served"]

SERVED_METRIC = "valora_predictor_model_version"
CHALLENGER_METRIC = "valora_predictor_challenger_version"
"""The challenger a predictor values in the shadow (``valora train --promotion shadow``)."""


def served_version(
    metrics_text: str, model_name: str, *, metric: str = SERVED_METRIC
) -> str | None:
    """The version of ``model_name`` a predictor's ``/metrics`` text says it serves (with
    ``metric`` :data:`CHALLENGER_METRIC`: values in the shadow)."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name != metric:
            continue
        for sample in family.samples:
            if sample.labels.get("model_name") == model_name and sample.value == 1:
                return sample.labels.get("model_version")
    return None


def _read(url: str, model_name: str, timeout_s: float, metric: str) -> str | None:
    try:
        response = httpx.get(f"{url.rstrip('/')}/metrics", timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError:  # not up (yet): nothing served there
        return None
    return served_version(response.text, model_name, metric=metric)


def wait_until_served(
    urls: Sequence[str],
    *,
    model_name: str,
    version: str,
    deadline: float,
    poll_s: float = 0.5,
    metric: str = SERVED_METRIC,
) -> dict[str, str | None]:
    """Poll every predictor until each serves ``version`` of ``model_name`` (as ``metric``
    says: the champion, or the challenger) or ``deadline`` (``time.monotonic()``) passes; the
    version each serves at the end."""
    served: dict[str, str | None] = dict.fromkeys(urls)
    while True:
        served = {url: _read(url, model_name, 2.0, metric) for url in urls}
        if all(v == version for v in served.values()) or time.monotonic() >= deadline:
            return served
        time.sleep(poll_s)
