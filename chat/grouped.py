"""Requests done in groups: those that arrive while one group's transaction runs share the next.

Endings (chat/endings.py) and arrivals (chat/arrivals.py) come in bursts, and on
PostgreSQL every statement is a round trip; like the transcript writer's group commit,
one transaction with set-based statements serves a whole burst. What they share lives
here: the queue, the one drain task, each request's own answer, and the fallback — a
database error fails the group, and each request is then retried alone, so a bad one
fails only itself. A request alone starts at once: an idle desk pays nothing for it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from chat.errors import DatabaseUnavailable

log = logging.getLogger("chat.grouped")

Request = TypeVar("Request")
Outcome = dict[str, Any] | BaseException


class Grouped(ABC, Generic[Request]):
    """Queues requests and runs them in groups of at most `max_group`."""

    # In the task's name and the log: "endings", "arrivals".
    noun = "requests"

    def __init__(self, max_group: int) -> None:
        self.max_group = max_group
        self._queue: list[tuple[Request, asyncio.Future[dict[str, Any]]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> dict[str, Any]:
        """The request's own answer once its group is done (or its own error)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if self._task is None:
            # Its own task, not the caller's: a caller that goes away (a closed socket)
            # must not cancel the other requests of its group.
            self._task = asyncio.create_task(self._drain(), name=f"chat-{self.noun}")
        return await future

    @abstractmethod
    async def together(self, requests: Sequence[Request]) -> list[Outcome]:
        """One transaction for every request given: an outcome each, in order."""

    async def _drain(self) -> None:
        group: list[tuple[Request, asyncio.Future[dict[str, Any]]]] = []
        try:
            while self._queue:
                group = self._queue[: self.max_group]
                self._queue = self._queue[self.max_group :]
                outcomes = await self._run_group([request for request, _ in group])
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if future.done():
                        continue  # its caller gave up waiting; the request was done regardless
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                group = []
        finally:
            self._task = None
            # Only when cancelled (the process stopping): nobody is left waiting forever.
            for _, future in group + self._queue:
                if not future.done():
                    future.set_exception(DatabaseUnavailable())
            self._queue = []

    async def _run_group(self, requests: list[Request]) -> list[Outcome]:
        try:
            return await self.together(requests)
        except Exception as error:
            if len(requests) == 1:
                return [error]
            log.warning(
                "%d %s failed together (%s); doing each alone", len(requests), self.noun, error
            )
        outcomes: list[Outcome] = []
        for request in requests:
            try:
                outcomes.extend(await self.together([request]))
            except Exception as error:
                outcomes.append(error)
        return outcomes


def answered(outcomes: Sequence[Outcome | None]) -> list[Outcome]:
    """A group's outcomes once every request has one (filled in as the group decides)."""
    assert all(o is not None for o in outcomes), "every request gets an answer"
    return [o for o in outcomes if o is not None]
