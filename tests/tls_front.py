"""TLS fronts for the tests of TLS to Kafka and to PostgreSQL, whose embedded servers cannot
speak TLS themselves: an asyncio server in a thread of its own that pipes each connection on."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until either end closes."""
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def both_ways(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                    b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    await asyncio.gather(pipe(a[0], b[1]), pipe(b[0], a[1]))


@contextlib.contextmanager
def serving(handler: Handler, port: int = 0, context: ssl.SSLContext | None = None
            ) -> Iterator[int]:
    """``handler`` serving 127.0.0.1:``port`` (0: any free one; TLS with ``context``) from a
    thread of its own; gives the port. Every connection is cancelled at the end."""
    loop = asyncio.new_event_loop()

    async def stop(server: asyncio.Server) -> None:
        server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(handler, "127.0.0.1", port, ssl=context), loop).result(10)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        asyncio.run_coroutine_threadsafe(stop(server), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
