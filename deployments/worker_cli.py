"""`exportflow worker`: a warm worker on the exportflow work pool; run as many as you like, anywhere."""

import asyncio
import os
import signal
from typing import Annotated

import typer

from deployments.cli_support import console, load_settings, require_prefect


def worker(
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Flow runs at once (default EXPORTFLOW_WORKER_LIMIT).", show_default=False),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Worker name shown in Prefect (default: random).", show_default=False)
    ] = None,
) -> None:
    """Start a worker that runs export flow runs from a pre-imported forkserver (milliseconds per start)."""
    settings = load_settings()
    os.environ["PREFECT_WORKER_QUERY_SECONDS"] = str(settings.worker_poll_seconds)
    require_prefect(settings)
    asyncio.run(_serve(limit or settings.worker_limit, name))


async def _serve(limit: int, name: str | None) -> None:
    """Poll until SIGINT or SIGTERM, then stop: running flow runs get SIGTERM (Prefect marks them crashed)."""
    from deployments.warm_worker import WarmWorker
    from flows.orchestration.pool import WORK_POOL

    current = asyncio.current_task()
    assert current is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, current.cancel)
    warm = WarmWorker(
        work_pool_name=WORK_POOL,
        name=name,
        limit=limit,
        base_job_template=WarmWorker.get_default_base_job_template(),
    )
    try:
        await warm.start(printer=console.print)
    except asyncio.CancelledError:
        console.print(f"worker {warm.name} stopped")
