"""Bounded process output: run a command with its stdout/stderr in a size-rotated file.

Run by :func:`valora_devstack.process.spawn` as a script (standard library only, started with
``python -I -S``)::

    python logpipe.py FILE MAX_BYTES BACKUPS [--user NAME] -- ARGV...

It forks: the child copies the pipe into FILE, moving FILE to FILE.1 ... FILE.BACKUPS when
FILE would grow past MAX_BYTES; the parent (optionally dropping root to ``--user``) *execs*
ARGV with stdout and stderr on the pipe. So the command keeps this process's pid (the pid file,
``kill -9`` and the process group work as before) and the copier is one more member of its
process group. The copier ignores SIGTERM, SIGINT, SIGHUP and SIGQUIT (a group-wide stop must
not lose the last lines) and exits when every writer has closed the pipe.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

__all__ = ["RotatingSink", "main"]

CHUNK = 65536


class RotatingSink:
    """Append bytes to ``path``; rotate to ``path.1..N`` before it would exceed ``max_bytes``.

    A file may exceed ``max_bytes`` by less than one read (64 KiB) when a single read is larger.
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = self._open()
        self.size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def rotate(self) -> None:
        os.close(self._fd)
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._fd = self._open()
        self.size = 0

    def write(self, data: bytes) -> None:
        if self.size > 0 and self.size + len(data) > self.max_bytes:
            self.rotate()
        os.write(self._fd, data)
        self.size += len(data)

    def close(self) -> None:
        os.close(self._fd)


def copy(fd: int, sink: RotatingSink) -> None:
    """Copy ``fd`` into ``sink`` until end of file."""
    while True:
        try:
            data = os.read(fd, CHUNK)
        except InterruptedError:  # pragma: no cover - retried by the interpreter (PEP 475)
            continue
        if not data:
            return
        sink.write(data)


def _drop_privileges(user: str) -> None:
    import pwd

    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def main(argv: list[str]) -> int:
    if "--" not in argv:
        sys.stderr.write(__doc__ or "")
        return 2
    head, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    user = None
    if "--user" in head:
        user = head[head.index("--user") + 1]
        head = head[: head.index("--user")]
    path, max_bytes, backups = Path(head[0]), int(head[1]), int(head[2])
    if not command:
        sys.stderr.write("logpipe: no command\n")
        return 2
    sink = RotatingSink(path, max_bytes=max_bytes, backups=backups)
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # the copier
        os.close(write_end)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)
        copy(read_end, sink)
        sink.close()
        os._exit(0)
    os.close(read_end)
    sink.close()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        if user is not None:
            _drop_privileges(user)
        os.execvp(command[0], command)  # noqa: S606 (argv, no shell)
    except OSError as exc:
        sys.stderr.write(f"logpipe: cannot run {command[0]}: {exc}\n")
        return 127
    return 0  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
