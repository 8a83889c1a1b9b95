"""The library's edge: whatever goes wrong leaves as one exception of ``metaingest.errors``.

Task groups wrap what their tasks raise in an ``ExceptionGroup``, so an error raised deep in
a run (a sink that cannot write, a fatal source error) would reach ``except SinkError:`` in
the caller's code wrapped, and not match. ``single_error`` unwraps at the boundary
(``ingest()``, ``Workflow.run()``, ``stream()``) and picks one exception:

1. an exception the caller raised in its own code (``stream()``'s body) is re-raised as is;
2. a ``KeyboardInterrupt`` or ``SystemExit`` goes on as it is;
3. else the first ``MetaingestError``;
4. else the first other ``Exception``, as a ``MetaingestError`` (it is a bug, or a foreign
   sink's or connector's exception: its type and message are named, the original is the
   ``__cause__``);
5. a group of cancellations only is left alone (anyio's cancel scopes take it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from metaingest.errors import MetaingestError

__all__ = ["leaves", "pick", "single_error"]


def leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    """Every exception inside ``group``, nested groups flattened, in order."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaves(exc)
        else:
            yield exc


def _foreign(exc: BaseException) -> MetaingestError:
    text = " ".join(str(exc).split())
    error = MetaingestError(f"unexpected {type(exc).__name__}" + (f": {text}" if text else ""))
    error.__cause__ = exc
    return error


def pick(
    group: BaseExceptionGroup[BaseException], own: BaseException | None = None
) -> BaseException:
    """The one exception that stands for ``group`` (see the module's docstring)."""
    found = list(leaves(group))
    if own is not None and any(exc is own for exc in found):
        return own
    for kind in (KeyboardInterrupt, SystemExit, MetaingestError):
        for exc in found:
            if isinstance(exc, kind):
                return exc
    for exc in found:
        if isinstance(exc, Exception):  # cancellations are BaseExceptions: left alone
            return _foreign(exc)
    return group


@contextmanager
def single_error(own: list[BaseException] | None = None) -> Iterator[None]:
    """Re-raise an exception group as one exception; a bare foreign exception as a
    ``MetaingestError``. ``own`` holds the caller's exception once it was thrown in."""
    try:
        yield
    except BaseExceptionGroup as group:
        chosen = pick(group, own[0] if own else None)
        if chosen is group:
            raise
        raise chosen from chosen.__cause__
    except MetaingestError:
        raise
    except Exception as exc:
        if own and exc is own[0]:
            raise
        raise _foreign(exc) from exc
