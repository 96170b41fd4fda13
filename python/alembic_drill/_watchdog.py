"""Step timeouts, and clean stops on SIGINT and SIGTERM, even while a statement blocks.

The problem: while a driver waits on the server (psycopg2 in libpq, mysqlclient, the
sqlite3 module), the main thread is in C. CPython runs a Python signal handler only
between bytecodes of the main thread, so neither a handler nor a timer in that thread can
do anything until the statement ends, which may be never (a lock, ``pg_sleep``).

The answer: a watchdog thread that is woken at C level and cancels the statement on the
server, so that the driver returns and the main thread can act.

- Signals. CPython's own C-level handler writes the signal number to the file
  descriptor given to :func:`signal.set_wakeup_fd`; here that is one end of a socket
  pair whose other end the watchdog thread reads. The thread is therefore woken the
  moment the signal arrives, whatever the main thread is doing, and cancels the running
  statement on the server. Then the Python handler runs in the main thread and raises
  :class:`Interrupted` (SIGINT, a KeyboardInterrupt) or :class:`Terminated` (SIGTERM, a
  SystemExit with status 143), which unwinds the run through its cleanup.

  Why not a Rust thread beneath Python (signal-hook chaining to Python's handler)? A
  C handler installed beside CPython's is silently replaced whenever anything calls
  ``signal.signal()`` for that signal (``asyncio.run`` does for SIGINT, and so may an
  env.py), after which signals would go unseen. The wakeup fd is CPython's documented
  mechanism; it survives ``signal.signal()`` calls, and it is put back at every step in
  case an event loop replaced it. The thread needs the GIL only to decide what to cancel:
  every driver releases the GIL while it waits on the server (sqlite3 too, while a
  statement runs), and the cancel itself (``_core._Canceller``) runs in Rust without it,
  on a connection of its own.

- No signal is lost. Python delivers a signal as an exception raised at whatever
  bytecode runs next; there it can be swallowed (a ``__del__``, a callback whose errors
  are ignored, a ``except BaseException`` in user code). So a received signal is also
  recorded, and the record is sticky: every call of the walk into Python checks it and
  raises again, and the scope raises it on exit if nothing else did.

- Cleanup is not interrupted. Inside :meth:`SignalScope.shielded` (stopping servers,
  dropping databases) a signal is recorded, not raised.

- Step timeouts. Every step, replay, bootstrap and model comparison gets a deadline.
  Past it the watchdog cancels what runs on the step's database (PostgreSQL
  ``pg_cancel_backend``, MySQL/MariaDB ``KILL QUERY``, SQLite ``interrupt()``), and
  again every half second while the step goes on (a migration may send another
  statement, and a MariaDB ``SLEEP()`` that ``KILL QUERY`` ends returns normally). The
  step is reported as failed with "timed out after N s", and the walk goes on as after
  any failure. A migration that hangs in Python code rather than on the server is not
  cancelled (Ctrl-C still stops it).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic_drill._core import StepOutcome

#: The signals that stop a run, and the exit status each one gives (128 + number).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: How often the statements of a step past its deadline, or of a run being stopped, are
#: cancelled again (a migration may send another statement after the first is cancelled).
_RECANCEL_SECONDS = 0.5


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT (Ctrl-C)."""

    signum = int(signal.SIGINT)
    exit_code = 130


class Terminated(SystemExit):
    """The run was stopped by SIGTERM; exits with status 143 when not caught."""

    signum = int(signal.SIGTERM)
    exit_code = 143

    def __init__(self) -> None:
        super().__init__(self.exit_code)


def stop_exception(signum: int) -> BaseException:
    """What a run stopped by ``signum`` raises."""
    return Terminated() if signum == signal.SIGTERM else Interrupted()


def describe_timeout(seconds: float) -> str:
    return f"timed out after {seconds:g} s"


class SignalScope:
    """While active (in the main thread): SIGINT and SIGTERM wake the watchdog thread at C
    level, and raise :class:`Interrupted` / :class:`Terminated` in the main thread except
    inside :meth:`shielded`. Nested scopes share the outermost one's state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._received: int | None = None
        self._shield = 0
        self._previous: dict[int, Any] = {}
        self._previous_wakeup = -1
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._handles_signals = False
        #: The per-check watchdog the thread serves (at most one: a walk is sequential).
        self._watchdog: Watchdog | None = None

    # -- the main thread's side ----------------------------------------------------------

    @property
    def received(self) -> int | None:
        """The first stop signal received in this scope, if any."""
        return self._received

    def check(self) -> None:
        """Raises the stop exception if a stop signal was received (sticky)."""
        if self._received is not None and not self._shield:
            raise stop_exception(self._received)

    @contextlib.contextmanager
    def shielded(self) -> Iterator[None]:
        """Signals received inside are recorded, not raised: for cleanup that must finish
        (stopping servers, dropping databases)."""
        self._shield += 1
        try:
            yield
        finally:
            self._shield -= 1

    def rearm(self) -> None:
        """Makes sure signals still reach the watchdog thread: an event loop started by
        env.py (``loop.add_signal_handler``) replaces the wakeup fd and drops it again."""
        if self._handles_signals and self._writer is not None:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)

    def __enter__(self) -> SignalScope:
        with self._lock:
            self._depth += 1
            if self._depth > 1:
                return self
        self._received = None
        self._closing = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._handles_signals = threading.current_thread() is threading.main_thread()
        if self._handles_signals:
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
            self._previous_wakeup = signal.set_wakeup_fd(
                self._writer.fileno(), warn_on_full_buffer=False
            )
        self._thread = threading.Thread(
            target=self._watch, name="alembic-drill-watchdog", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        with self._lock:
            self._depth -= 1
            nested = self._depth > 0
        if nested:
            if self._received is not None and not self._shield and not _is_stop(exc):
                raise stop_exception(self._received) from exc
            return
        self._closing = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._handles_signals:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(self._previous_wakeup)
            for signum, previous in self._previous.items():
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        for end in (self._reader, self._writer):
            if end is not None:
                end.close()
        self._reader = self._writer = self._thread = None
        received, self._received = self._received, None
        if received is None or _is_stop(exc):
            return
        # The signal's own exception was lost on the way (swallowed), or the run ended
        # with an error the stop caused (a cancelled statement): the stop wins.
        raise stop_exception(received) from exc

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._received is None:
            self._received = signum
        self._wake()  # in case the wakeup fd was replaced
        if not self._shield:
            raise stop_exception(self._received)

    def _wake(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError):
                self._writer.send(b"\0")

    # -- the watchdog thread -------------------------------------------------------------

    def _watch(self) -> None:
        reader = self._reader
        assert reader is not None
        while not self._closing:
            watchdog = self._watchdog
            wait = watchdog.seconds_to_next(self._received) if watchdog else None
            readable, _, _ = select.select([reader], [], [], wait)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    for byte in reader.recv(256):
                        if byte in STOP_SIGNALS and self._received is None:
                            self._received = byte
            watchdog = self._watchdog
            if watchdog is not None and not self._closing:
                watchdog.act(self._received)


class Watchdog:
    """One check's watchdog: knows the database the current step runs on and its
    deadline, and cancels what runs there when the deadline passes or a stop signal
    comes. Attach it to a :class:`SignalScope` with ``with``."""

    def __init__(
        self,
        scope: SignalScope,
        *,
        engine: str,
        cancel: Callable[[list[str]], object],
        step_timeout: float | None,
    ) -> None:
        self.scope = scope
        self.engine = engine
        self._cancel = cancel
        self.step_timeout = step_timeout if step_timeout and step_timeout > 0 else None
        self._lock = threading.Lock()
        #: The step running now: its database name, deadline, and whether it timed out.
        self._database: str | None = None
        self._deadline: float | None = None
        self._timed_out = False
        self._next_cancel = 0.0
        #: sqlite3 connections checked out of a SQLAlchemy pool right now (interrupt()
        #: works from any thread; sqlite3.Connection takes no weak references).
        self._sqlite: dict[int, Any] = {}
        self._cancel_failed = False

    def __enter__(self) -> Watchdog:
        if self.engine == "sqlite":
            from sqlalchemy import event, pool

            event.listen(pool.Pool, "checkout", self._checked_out)
            event.listen(pool.Pool, "checkin", self._checked_in)
        self.scope._watchdog = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.scope._watchdog = None
        if self.engine == "sqlite":
            from sqlalchemy import event, pool

            event.remove(pool.Pool, "checkout", self._checked_out)
            event.remove(pool.Pool, "checkin", self._checked_in)
        self._sqlite.clear()

    @contextlib.contextmanager
    def watching(self, url: str, *, timed: bool) -> Iterator[Callable[[], bool]]:
        """Around one call of the walk into Python on the database at ``url``: raises a
        pending stop before and after, and with ``timed`` gives it the step deadline.
        Yields a function that tells whether the deadline passed."""
        self.scope.check()
        self.scope.rearm()
        with self._lock:
            self._database = _database_name(url)
            self._deadline = (
                time.monotonic() + self.step_timeout if timed and self.step_timeout else None
            )
            self._timed_out = False
        self.scope._wake()  # the thread recomputes its wait
        try:
            yield lambda: self._timed_out
        finally:
            with self._lock:
                self._database = None
                self._deadline = None
        self.scope.check()

    # -- called by the watchdog thread ---------------------------------------------------

    def seconds_to_next(self, stopping: int | None) -> float | None:
        with self._lock:
            if self._database is None:
                return None
            now = time.monotonic()
            if stopping is not None or self._timed_out:
                return max(0.0, self._next_cancel - now)
            if self._deadline is not None:
                return max(0.0, self._deadline - now)
            return None

    def act(self, stopping: int | None) -> None:
        with self._lock:
            database = self._database
            if database is None:
                return
            now = time.monotonic()
            if (
                stopping is None
                and not self._timed_out
                and self._deadline is not None
                and now >= self._deadline
            ):
                self._timed_out = True
            if not (stopping is not None or self._timed_out) or now < self._next_cancel:
                return
            self._next_cancel = now + _RECANCEL_SECONDS
        self._cancel_on(database)

    def _cancel_on(self, database: str) -> None:
        if self.engine == "sqlite":
            for connection in list(self._sqlite.values()):
                with contextlib.suppress(Exception):
                    connection.interrupt()
            return
        # The watchdog must go on serving the next signal or deadline whatever happens;
        # a failure is said once (a statement that is not cancelled hangs the run).
        try:
            self._cancel([database])
        except Exception as exc:
            if not self._cancel_failed:
                self._cancel_failed = True
                print(f"alembic-drill: cannot cancel the statement: {exc}", file=sys.stderr)

    def _checked_out(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if hasattr(dbapi_connection, "interrupt"):
            self._sqlite[id(dbapi_connection)] = dbapi_connection

    def _checked_in(self, dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            self._sqlite.pop(id(dbapi_connection), None)


class WatchedHost:
    """The host the walk calls (see ``alembic_drill._steps.DrillHost``), each call under
    the watchdog: a pending stop is raised at every call, and the calls that run
    migrations have the step deadline."""

    def __init__(self, host: Any, watchdog: Watchdog) -> None:
        self._host = host
        self._watchdog = watchdog

    @property
    def _timeout_text(self) -> str:
        return describe_timeout(self._watchdog.step_timeout or 0)

    def step(self, url: str, direction: str, revision: str, capture: bool) -> StepOutcome:
        with self._watchdog.watching(url, timed=True) as timed_out:
            result: StepOutcome = self._host.step(url, direction, revision, capture)
        if timed_out():
            # Failed, even if the cancelled statement let it finish (MariaDB's SLEEP()):
            # a step that outlasts its timeout would hang a real deployment.
            result = {
                **result,
                "ok": False,
                "error": self._timeout_text,
                "capture": None,
                "error_kind": "database",
            }
        return result

    def rerun(self, url: str, capture: int) -> tuple[str | None, str | None]:
        with self._watchdog.watching(url, timed=True) as timed_out:
            outcome: tuple[str | None, str | None] = self._host.rerun(url, capture)
        return (self._timeout_text, None) if timed_out() else outcome

    def compare_models(self, url: str) -> tuple[list[str] | None, str | None]:
        with self._watchdog.watching(url, timed=True) as timed_out:
            try:
                result: tuple[list[str] | None, str | None] = self._host.compare_models(url)
            except Exception:
                if not timed_out():
                    raise
                result = (None, None)
        if timed_out():
            raise _timed_out_error(f"the model comparison {self._timeout_text}")
        return result

    def bootstrap(self, url: str) -> None:
        with self._watchdog.watching(url, timed=True) as timed_out:
            try:
                self._host.bootstrap(url)
            except Exception:
                if not timed_out():
                    raise
        if timed_out():
            raise _timed_out_error(f"the bootstrap {self._timeout_text}")

    def release(self, url: str) -> None:
        with self._watchdog.watching(url, timed=False):
            self._host.release(url)

    def model_hints(self) -> dict[str, dict[str, dict[str, Any]]]:
        hints: dict[str, dict[str, dict[str, Any]]] = self._host.model_hints()
        return hints

    def watch_hazards(self, url: str, watch: bool) -> None:
        self._host.watch_hazards(url, watch)

    def progress(self, index: int, total: int, revision: str, activity: str) -> None:
        self._watchdog.scope.check()
        self._host.progress(index, total, revision, activity)


#: The main thread's scope: nested uses (the CLI around a Drill.check) share it.
_SCOPE = SignalScope()


def signals() -> SignalScope:
    """The scope to use with ``with`` (see :class:`SignalScope`): in the main thread the
    process's, which handles the signals; in another thread one of its own, which serves
    step timeouts only (signals are the main thread's)."""
    if threading.current_thread() is threading.main_thread():
        return _SCOPE
    return SignalScope()


def program_signals(*, finished: bool) -> None:
    """For a process that alembic-drill runs from start to end (the command line), in
    its main thread. Before the command: SIGINT and SIGTERM raise :class:`Interrupted` /
    :class:`Terminated` from the first moment (SIGTERM's default would kill the process
    without cleanup and with another status). Once it has ``finished`` (everything
    removed, output written): they end the process at once with 130 / 143, so that a
    signal in the interpreter's teardown neither dies with a traceback nor is lost."""
    if threading.current_thread() is not threading.main_thread():
        return
    if not finished:
        for signum in STOP_SIGNALS:
            signal.signal(signum, _raise_stop)
        return
    # Blocked while the handlers change: a signal in between is delivered to the new one.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for signum in STOP_SIGNALS:
            signal.signal(signum, _exit_now)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise stop_exception(signum)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(128 + signum)


def _timed_out_error(text: str) -> Exception:
    """The error that stops a run whose bootstrap or model comparison outlasted the step
    timeout (they are no revision's step: there is no finding to make of it)."""
    from alembic_drill._core import AlembicDrillError

    return AlembicDrillError(f"{text} (step_timeout; 0 turns it off)")


def _is_stop(exc: BaseException | None) -> bool:
    return isinstance(exc, (Interrupted, Terminated))


def _database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    database = make_url(url).database or ""
    return os.path.splitext(os.path.basename(database))[0] if "/" in database else database
