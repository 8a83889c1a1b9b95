"""Where units run: in this process (the default) or as tasks on a Dask distributed cluster.

The workflow discovers, filters, reports and writes in its own process whatever the
executor; an executor only decides where a unit's connection, extraction and retries
happen. ``select.open_executor`` yields None for ``local`` (the runner's own in-process path,
unchanged) or an open ``DaskExecutor``; ``unit_runner`` turns it into the per-unit
callable the runner awaits.
"""

from __future__ import annotations

from .settings import DaskExecutorConfig, DaskTls, ExecutorConfig, LocalExecutorConfig

__all__ = ["DaskExecutorConfig", "DaskTls", "ExecutorConfig", "LocalExecutorConfig"]
