"""Helper processes end with the process that started them, however it ends (SIGKILL and the OOM killer
included): a pool worker or a Prefect server left behind holds hundreds of MB for ever.

Linux's parent-death signal does it in the kernel: the child asks for a signal when its parent goes, then
checks that the parent has not already gone before it asked. Elsewhere nothing is asked (no such call).
`python -m tasks.core.lifeline PARENT_PID CMD...` runs CMD under that promise, for programs that cannot
ask themselves (the Prefect server)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> None:
    """Get `sig` when the parent dies; exit at once if `parent` is already gone (re-parented before the ask).

    The kernel sends the signal when the thread that started this process ends, so `parent` must start its
    helpers from a thread that lives as long as they should (its main thread, or the one that owns them)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str]) -> None:
    """`PARENT_PID CMD...`: exec CMD, to be killed when PARENT_PID dies (the signal survives exec)."""
    parent, *command = argv
    die_with_parent(int(parent))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
