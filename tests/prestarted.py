"""``scorer`` commands in processes of their own, forked from an interpreter that has imported it.

A ``scorer`` process pays about 2 s of CPU for its imports before it reads its
first argument (``openai.types`` alone builds over a thousand pydantic
models), and most of the tests that start one need a process for what a
process has and this one does not: a pid to signal or kill, a process group,
a file-size limit, several runs on one cache at once. Those run here: a
multiprocessing fork server holds scorer and its client libraries, once per
test worker (a fork of the worker itself after collection, which imported
them already: :func:`start_server_here`; else a new interpreter importing
them), and each command is a fork of it that sets up what a shell
would have given a fresh ``scorer`` (its own session, standard streams,
environment, working folder, SIGINT at Python's default and nothing
blocked) and runs the console script's ``main()``.

What such a process does not have is a fresh interpreter: a test about
imports at start-up, ``-W`` flags or what the interpreter does as it exits
starts ``sys.executable`` instead.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import io
import logging
import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Mapping, Sequence
from multiprocessing import connection, forkserver, reduction, resource_tracker
from pathlib import Path
from typing import IO, Any

# What `scorer batch`, `score`, `serve` and `daily` import before their first request.
PRELOAD = [
    "openai",
    "instructor",
    "aiohttp",
    "httpx",
    "rich.console",
    "jinja2",
    "diskcache",
    "tenacity",
    "genai_prices",
    "scorer.cli",
    "scorer.cli.batch_cmd",
    "scorer.backends._openai_compat",
    "scorer.engine",
    "scorer.io",
    "scorer.digest",
    "scorer.eval._prices",
    "scorer.service",
]

_CONTEXT: Any = None


def _context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(PRELOAD)
        # Stopped and waited for as this process ends, so the CPU of the server and of
        # every command forked from it counts in this process's children (time -v).
        atexit.register(forkserver._forkserver._stop)
    return _CONTEXT


def start_server_here() -> None:
    """Start the fork server as a fork of this process, if it does not run yet.

    multiprocessing starts it as a new interpreter that imports PRELOAD (about
    4 s of CPU, openai alone 2.4 s); a test worker that has collected the
    suite has imported nearly all of it already. Call this before any test has
    started a thread (after collection, before the first test): the server
    then starts as this process's copy, which needs only the few modules
    collection did not import, and is made to look like the
    new interpreter it replaces (see :func:`_as_a_new_interpreter`). Should
    the forked server fail, multiprocessing starts a new interpreter instead
    (slower, not wrong), and the failure is printed.
    """
    _context()  # its preload list, and its stop as this process ends
    server = forkserver._forkserver
    with server._lock:
        if server._forkserver_pid is not None:
            return
        resource_tracker.ensure_running()  # as ForkServer.ensure_running does first
        listener = socket.socket(socket.AF_UNIX)
        address = connection.arbitrary_address("AF_UNIX")  # type: ignore[attr-defined]
        listener.bind(address)
        Path(address).chmod(0o600)
        listener.listen()
        alive_r, alive_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the server: it never returns into the test runner
            try:
                os.close(alive_w)
                _as_a_new_interpreter()
                forkserver.main(listener.fileno(), alive_r, server._preload_modules)
            except SystemExit:  # how it ends when this process goes away
                pass
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(0)
        os.close(alive_r)
        listener.close()
        server._forkserver_address = address
        server._forkserver_alive_fd = alive_w
        server._forkserver_pid = pid


def _as_a_new_interpreter() -> None:
    """Undo in the forked server what the test runner set up in its own process.

    A command forked from it must find what a new interpreter that imported
    PRELOAD would have: logging without the runner's capture handler,
    Python's default warning filters, no exit functions or fault handler of
    the runner's.
    """
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    warnings.resetwarnings()
    for action, category in _DEFAULT_FILTERS:
        warnings.simplefilter(action, category, append=True)
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    warnings._processoptions(sys.warnoptions)  # type: ignore[attr-defined]
    atexit._clear()
    atexit.register(logging.shutdown)
    faulthandler.disable()


# A release build's filters before -W and PYTHONWARNINGS (warnings.filters in a new `python`).
_DEFAULT_FILTERS = [
    ("ignore", DeprecationWarning),
    ("ignore", PendingDeprecationWarning),
    ("ignore", ImportWarning),
    ("ignore", ResourceWarning),
]


def stop_server() -> None:
    """Stop the fork server (if it runs) and wait for it."""
    forkserver._forkserver._stop()


def server_pid() -> int | None:
    """The fork server's pid while it runs (for bench/test_suite_time.py's CPU count)."""
    return forkserver._forkserver._forkserver_pid  # type: ignore[no-any-return]


def server_cpu() -> float:
    """CPU seconds of the running fork server and its reaped forks (0 when none runs).

    For the CPU counts of tests/cpu_report.py and bench/test_suite_time.py: the
    ``scorer`` commands forked from the server are its children, not the test's.
    """
    pid = server_pid()
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14-17 of proc(5), counted after the ")".
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class _Fd:
    """A file descriptor handed to the forked child (dup'ed into it by the fork server)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return (_detach, (reduction.DupFd(self.fd),))


def _detach(dup: Any) -> int:
    return int(dup.detach())


def _stream(fd: int, mode: str) -> IO[str]:
    """``sys.stdin``/``stdout``/``stderr`` over ``fd`` as Python's start-up makes them."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED")) and mode == "w"
    raw: Any = open(fd, mode + "b", buffering=0 if unbuffered else -1, closefd=False)  # noqa: SIM115
    interactive = os.isatty(fd)
    return io.TextIOWrapper(
        raw,
        encoding=getattr(sys.__stderr__, "encoding", None) or "utf-8",
        errors="backslashreplace" if fd == 2 else "strict",
        line_buffering=mode == "w" and (interactive or fd == 2),
        write_through=unbuffered,
    )


def _run_in_child(
    args: list[str],
    env: dict[str, str],
    cwd: str | None,
    fds: list[int],
    ready: int,
    blocked: list[int],
    file_size_limit: int | None,
    code: str | None,
) -> None:
    """The forked child: become what a shell starts, then run scorer (or ``code``) and exit."""
    os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGCHLD", "SIGUSR1", "SIGUSR2"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python's start-up sets them
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if file_size_limit is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
    sys.stdin = sys.__stdin__ = _stream(0, "r")
    sys.stdout = sys.__stdout__ = _stream(1, "w")
    sys.stderr = sys.__stderr__ = _stream(2, "w")
    sys.argv = ["scorer", *args] if code is None else ["-c", *args]
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.write(ready, b"1")
    os.close(ready)
    status = 0
    try:
        if code is None:
            from scorer.cli import main

            main()
        else:
            exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as stop:
        if stop.code is None:
            status = 0
        elif isinstance(stop.code, int):
            status = stop.code
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    except BaseException as error:
        traceback.print_exc()
        status = 1
        if isinstance(error, KeyboardInterrupt):
            # Python ends on an uncaught Ctrl-C by SIGINT at its default: killed by it.
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
    # What the interpreter does at exit, short of tearing itself down.
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL


class PrestartedProcess:
    """A forked ``scorer`` with the part of :class:`subprocess.Popen`'s interface the tests use."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stdin: Any = None,
        stdout: Any = None,
        stderr: Any = None,
        text: bool = False,
        blocked: Sequence[signal.Signals] = (),
        file_size_limit: int | None = None,
        code: str | None = None,
    ) -> None:
        self.args = list(args)
        self.returncode: int | None = None
        self.stdin: Any = None
        self.stdout: Any = None
        self.stderr: Any = None
        child_fds: list[int] = []
        to_close: list[int] = []
        for number, (spec, mode) in enumerate(((stdin, "w"), (stdout, "r"), (stderr, "r"))):
            if spec == PIPE:
                read, write = os.pipe()
                mine, theirs = (write, read) if mode == "w" else (read, write)
                child_fds.append(theirs)
                to_close.append(theirs)
                opened: Any = os.fdopen(mine, mode if text else mode + "b")
                setattr(self, ("stdin", "stdout", "stderr")[number], opened)
            elif spec == DEVNULL or (spec is None and number == 0):
                fd = os.open(os.devnull, os.O_RDWR)
                child_fds.append(fd)
                to_close.append(fd)
            elif spec is None:
                child_fds.append(number)  # the test runner's own stream, as Popen would
            elif spec == subprocess.STDOUT:
                child_fds.append(child_fds[1])
            else:
                child_fds.append(spec if isinstance(spec, int) else spec.fileno())
        ready_read, ready_write = os.pipe()
        to_close.append(ready_write)
        self._process = _context().Process(
            target=_run_in_child,
            args=(
                [str(a) for a in args],
                dict(os.environ if env is None else env),
                None if cwd is None else os.fspath(cwd),
                [_Fd(fd) for fd in child_fds],
                _Fd(ready_write),
                [int(s) for s in blocked],
                file_size_limit,
                code,
            ),
        )
        try:
            self._process.start()
        finally:
            for fd in to_close:
                os.close(fd)
        self.pid: int = self._process.pid
        # Until the child has its own session, killing its group would miss it.
        with os.fdopen(ready_read, "rb") as ready:
            ready.read(1)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        """Write ``input``, read both streams to their end, wait for the exit."""
        found: dict[str, Any] = {}

        def read_all(name: str) -> None:
            stream = getattr(self, name)
            found[name] = stream.read()
            stream.close()

        readers = [
            threading.Thread(target=read_all, args=(name,), daemon=True)
            for name in ("stdout", "stderr")
            if getattr(self, name) is not None and not getattr(self, name).closed
        ]
        for reader in readers:
            reader.start()
        if self.stdin is not None and not self.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                if input:
                    self.stdin.write(input)
                self.stdin.close()
        self.wait(timeout)
        for reader in readers:
            reader.join(timeout)
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return found.get("stdout"), found.get("stderr")

    def __enter__(self) -> PrestartedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.poll() is None:
            self.wait()
