"""Host-side output work off a run's critical path: one worker thread runs figures, TensorBoard images and
tracker calls in the order they were submitted, while the main thread goes on training or evaluating.

``with Background(enabled) as jobs: jobs.submit("plots", write_plots, ...)``: at the end of the block the
run waits for every submitted job, whether the block ended normally, by an error, an `Interrupted` or a
``KeyboardInterrupt`` (nothing submitted is dropped). A job that failed is logged with its traceback as it
fails; at the end of a block that raised nothing else, the failures become one `OutputsFailed` (exit code 3,
one line naming each failed job); after another error they are logged only, beneath it. Not enabled (or
``enabled`` False): every job runs at once in the caller, exactly as a direct call (its errors raise there).

Jobs must not start device programs: on a multi-process run every process must launch the same programs
in the same order, and the worker's timing differs per process. Device work (a rollout, a host transfer)
stays in the caller; the job gets host arrays. This module imports nothing of the package but its errors.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from typing import Any, Callable

from hybrid_jax.errors import OutputsFailed

log = logging.getLogger("hybrid_jax")
_STOP = object()


class Background:
    """An ordered queue of output jobs and the thread that runs them (started on the first job)."""

    def __init__(self, enabled: bool = True, name: str = "hybrid_jax-outputs"):
        self.enabled = enabled
        self.name = name
        self.failures: list[tuple[str, BaseException]] = []
        self.waited_s = 0.0  # seconds the caller spent waiting for the worker at the end
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, label: str, fn: Callable[..., Any], *args, **kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` after the jobs submitted before it (`label` names it in errors)."""
        if self._closed:
            raise RuntimeError(f"{self.name}: job {label!r} submitted after the worker was closed")
        if not self.enabled:
            fn(*args, **kwargs)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
            self._thread.start()
        self._queue.put((label, fn, args, kwargs))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                label, fn, args, kwargs = item
                try:
                    fn(*args, **kwargs)
                except BaseException as e:  # noqa: B036 - reported at the end, never lost with the thread
                    self.failures.append((label, e))
                    log.error("background output job %r failed:\n%s", label,
                              "".join(traceback.format_exception(e)).rstrip())
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        """Block until every job submitted so far has run (a second Ctrl-C interrupts the wait)."""
        if self._thread is not None:
            t = time.perf_counter()
            self._queue.join()
            self.waited_s += time.perf_counter() - t

    def close(self) -> None:
        """Wait for every job, stop the thread; raise `OutputsFailed` if any job failed."""
        if self._closed:
            return
        self.wait()
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self.failures:
            raise OutputsFailed(self.failures)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close()
        except OutputsFailed as failed:
            if exc is None:
                raise
            log.error("%s (beneath the error that ended the run)", failed)
