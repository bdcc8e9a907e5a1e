"""A bare aiohttp server answering ``GET /jobs/{id}`` with a fixed job record.

``python -m benchmarks._bare_server`` prints its URL on the first line of stdout and serves
until stdin closes: benchmarks 2 and 3 run it in its own process, so it does not compete for
the client's GIL (as with a real server).
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web

JOB = {
    "job_id": "j1",
    "status": "completed",
    "job_type": "simulation",
    "priority": 5,
    "created_at": "t",
    "updated_at": "t",
    "is_terminal": True,
    "is_failed": False,
}


async def serve() -> None:
    body = json.dumps(JOB).encode()

    async def job(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "application/json"})

    app = web.Application()
    app.router.add_get("/jobs/{id}", job)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    print(url, flush=True)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
