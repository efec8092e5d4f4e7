"""Where work enters the drift monitor: decode, call, map errors.

* :mod:`.subscribers` — the FastStream subscribers (one per input topic, plus promotions).
* :mod:`.decoding` — record bytes to the events the domain reads; bad records to dead letters.
* :mod:`.handlers` — one shape for every input topic: decode -> step -> performance -> output.
* :mod:`.judging` — closed windows and realised performance against the reference.
* :mod:`.batch_output` — alert transitions stored, events and dead letters published.
* :mod:`.upkeep` — timers: the champion, the outbox sweeper, pruning.
* :mod:`.http` — readiness checks (``/health/ready``); ``/metrics``.
"""
