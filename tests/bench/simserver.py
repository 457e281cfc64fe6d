"""The Daraja simulator in its own process, counting OAuth requests.

``python -m tests.bench.simserver --port N``: serves the bundled simulator
(prompts never answered during a run) behind a middleware that counts
``GET /oauth/v1/generate``; ``GET /bench/oauth-count`` returns the count.
"""

from __future__ import annotations

import argparse
import json
import sys

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from mpesa_daraja_kit.simulator import Simulator, SimulatorConfig
from tests.bench.server import uvicorn_options


class OAuthCounter:
    """Count token requests on their way to the simulator."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/oauth-count":
            body = json.dumps({"oauth_requests": self.count}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "http" and scope["path"] == "/oauth/v1/generate":
            self.count += 1
        await self.app(scope, receive, send)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.simserver")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # The customer "answers" after an hour: no callback is sent during the benchmark.
    simulator = Simulator(config=SimulatorConfig(callback_delay=3600))
    uvicorn.run(OAuthCounter(simulator.app), port=args.port, **uvicorn_options())


if __name__ == "__main__":
    main(sys.argv[1:])
