"""No secret in the repository: a scan of every tracked text file for high-entropy strings
(random-looking keys, tokens, passwords) outside the clearly marked local defaults.

A string is suspect when it is long (20+ characters of a key alphabet) and random-looking
(Shannon entropy per character above :data:`ENTROPY_BITS`, with letters and digits mixed).
It is allowed only where the line, or the line just before it, says ``local-only`` or
``not a secret``; lock files and generated artefacts whose long strings are hashes by
construction are skipped (:data:`SKIPPED`).
"""

from __future__ import annotations

import math
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ENTROPY_BITS = 4.0
CANDIDATE = re.compile(r"[A-Za-z0-9+/_\-]{20,}")
IDENTIFIER = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+){2,}$")
"""snake_case names (a test's, a setting's): words, not randomness."""
MARKERS = ("local-only", "not a secret")
SKIPPED = {
    "uv.lock",  # package hashes
    "kubeflow/pipeline.yaml",  # compiled, content-addressed names
    "tools/deploycheck/src/valora_deploycheck/schemas/compose-spec.json",  # vendored schema
}
SKIPPED_DIRS = ("contracts/schemas/", "compose/grafana/dashboards/")  # generated, uids


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def suspects(text: str) -> Iterator[str]:
    for match in CANDIDATE.finditer(text):
        word = match.group(0).strip("_-")
        if len(word) < 20 or word.count("/") >= 2 or IDENTIFIER.match(word):
            continue  # paths, URLs and identifiers
        classes = sum(bool(re.search(p, word)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
        if classes >= 2 and re.search(r"[0-9]", word) and entropy(word) > ENTROPY_BITS:
            yield word


def _files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    out = []
    for name in listed:
        if name in SKIPPED or name.startswith(SKIPPED_DIRS) or not (ROOT / name).is_file():
            continue
        out.append(ROOT / name)
    return out


def scan(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return []  # binary
    found = []
    for number, line in enumerate(lines):
        context = line + (lines[number - 1] if number else "")
        if any(marker in context for marker in MARKERS):
            continue
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        found += [f"{name}:{number + 1}: {word[:12]}..." for word in suspects(line)]
    return found


def test_no_high_entropy_string_outside_the_marked_local_defaults() -> None:
    files = _files()
    assert len(files) > 200, "the scan sees too few files: is git available?"
    found = [hit for path in files for hit in scan(path)]
    assert found == []


@pytest.mark.parametrize(
    "secret",
    [
        "AKIAIOSFODNN7EXAMPLEab12",  # an AWS-style key id (made up: not a secret)
        "ghp_Xy9kL2mN4pQ7rS1tU3vW5xZ8aB0cD6eF",  # a GitHub-style token (not a secret)
        "s3cr3t-P4ssw0rd-9f8e7d6c5b4a",  # a strong password (not a secret)
    ],
)
def test_the_scan_finds_a_real_looking_secret_unless_marked_local_only(
    secret: str, tmp_path: Path
) -> None:
    leaked = tmp_path / "settings.py"
    leaked.write_text(f'API_TOKEN = "{secret}"\n')
    assert scan(leaked) == [f"settings.py:1: {secret[:12]}..."]
    marked = tmp_path / "local.env"
    marked.write_text(f"# a local-only default for the dev stack\nTOKEN={secret}\n")
    assert scan(marked) == []


def test_ordinary_code_and_words_are_not_suspect() -> None:
    text = (
        "def test_every_hand_made_consumer_reads_committed_data() -> None:\n"
        "valora-price-local-only postgresql+asyncpg://valora:valora-local-only@127.0.0.1/x\n"
        "kafka_bootstrap_servers ProducerLanes.from_settings\n"
    )
    assert list(suspects(text)) == []
