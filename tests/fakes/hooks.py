"""Acting at an exact moment of a fake's request handling, e.g. SIGKILL the bot right there.

    hook = fake_discord.on_request(
        lambda r: r.method == "DELETE" and r.template == WEBHOOK_MESSAGE, kill_the_bot
    )

Both fakes have `on_request(predicate, action, *, when="after", times=1)`; the predicate gets
the fake's own record of the request (method, path and body; the route template in the fake
Discord, the query in the fake API) and is checked at the chosen moment:

- `when="after"`: the request succeeded (2xx) and its effect is applied — the message stored,
  the job created, the poll's status decided — but the answer has not been sent: the client
  can never have seen it. The answer goes out after the action returns.
- `when="before"`: before anything is applied; after the action the connection is closed
  without an answer and the request has no effect, as if it had never reached the server.

The action may be a coroutine function (the request waits for it: `process.kill()` then
`await process.wait()` makes sure the bot is gone before anything more happens). A hook fires
for the first `times` matching requests (None: every one); `hook.fired` counts its firings.
Note that aiohttp sends a GET again when its connection closed before any answer, so a GET
dropped "before" once is not seen by an aiohttp client (a killed client sends nothing again).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

R = TypeVar("R")
Moment = Literal["before", "after"]
Action = Callable[[R], Awaitable[None] | None]


@dataclass
class RequestHook(Generic[R]):
    predicate: Callable[[R], bool]
    action: Action[R]
    when: Moment
    times: int | None = 1  # firings left (None: unlimited)
    fired: int = 0

    def wants(self, when: Moment, request: R) -> bool:
        return self.when == when and self.times != 0 and self.predicate(request)


class RequestHooks(Generic[R]):
    """A fake's hooks; the fake calls `run(moment, record)` at both moments of each request."""

    def __init__(self) -> None:
        self._hooks: list[RequestHook[R]] = []

    def add(
        self,
        predicate: Callable[[R], bool],
        action: Action[R],
        *,
        when: Moment = "after",
        times: int | None = 1,
    ) -> RequestHook[R]:
        if when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        hook = RequestHook(predicate, action, when, times)
        self._hooks.append(hook)
        return hook

    def clear(self) -> None:
        self._hooks.clear()

    async def run(self, when: Moment, request: R) -> bool:
        """Fire the hooks that want this request now; True when one fired."""
        fired = False
        for hook in list(self._hooks):
            if not hook.wants(when, request):
                continue
            hook.fired += 1
            if hook.times is not None:
                hook.times -= 1
            fired = True
            result = hook.action(request)
            if inspect.isawaitable(result):
                await result
        return fired
