"""``python -m valora_deploycheck``: run every offline deployment check; exit 1 on errors.
``python -m valora_deploycheck pin-images``: resolve pulled images to digests (``make
pin-images``; see :mod:`valora_deploycheck.pin_images`)."""

from __future__ import annotations

import sys

from valora_deploycheck.findings import errors, format_findings
from valora_deploycheck.runner import run_all


def main() -> int:
    findings = run_all()
    sys.stdout.write(format_findings(findings) + "\n")
    bad = errors(findings)
    sys.stdout.write(f"{len(bad)} errors, {len(findings) - len(bad)} gaps/pending\n")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["pin-images"]:
        from valora_deploycheck.pin_images import main as pin_images

        raise SystemExit(pin_images())
    raise SystemExit(main())
