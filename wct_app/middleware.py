"""The HTTP body limit: an ASGI middleware in front of Gradio that answers 413 before Gradio parses a body."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimit", "BodyTooLarge"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised into the app when a request body without a Content-Length grows past the limit."""


class BodyLimit:
    """ASGI middleware: HTTP request bodies over ``limit`` bytes get 413 with ``{"detail": message}`` before the app
    parses them. A declared Content-Length is checked before anything is read; a body without one (chunked) is counted
    as the app reads it, and past the limit the read fails and the app's answer is replaced by the 413."""

    def __init__(self, app, limit: int, message: str) -> None:
        self.app, self.limit, self.message = app, limit, message

    async def refuse(self, send: Send, status: int = 413, message: str | None = None) -> None:
        body = json.dumps({"detail": self.message if message is None else message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return await self.refuse(send, 400, "the Content-Length header is not a number")
            if int(declared) > self.limit:
                return await self.refuse(send)
        state = {"received": 0, "over": False, "started": False}

        async def counted() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.limit:
                    state["over"] = True
                    raise BodyTooLarge
            return message

        async def guarded(message: dict) -> None:
            if state["over"]:
                return  # the app's answer to a body cut short: ours goes instead
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await self.refuse(send)
