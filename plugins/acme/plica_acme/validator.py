"""The background validator: challenges are checked off the request path, retried with backoff within
the provisioner's `validation.retryWindow`, then marked valid or invalid (with the problem saying why).

A job is an asyncio task in the worker that took the challenge request. Its lease is the authorization's
`next_attempt` time: a job that died with its process leaves a lease that runs out, and the housekeeper of
any instance takes it over with a conditional UPDATE (so exactly one instance resumes it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import orjson

from .challenges import key_authorization, validate
from .problems import Problem

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("plica.acme.validator")

MAX_DELAY = 16.0
STALE_AFTER = 60  # seconds past a lease before another instance takes the job over


class Validator:
    def __init__(self, rt: Runtime, *, concurrency: int = 32) -> None:
        self.rt = rt
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, provisioner: str, authz_id: str, ch_type: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(provisioner, authz_id, ch_type, time.time()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, provisioner: str, authz_id: str, ch_type: str, started: float) -> None:
        attempt = 0
        try:
            while True:
                async with self._sem:
                    outcome = await self._attempt(provisioner, authz_id, ch_type)
                if outcome is None:
                    return
                problem, final = outcome
                prov = self.rt.authority.provisioner_by_name(provisioner)
                window = prov.state.retry_window if prov is not None else 0.0
                delay = min(2.0**attempt, MAX_DELAY)
                attempt += 1
                if final or time.time() + delay > started + window:
                    await self._fail(authz_id, problem)
                    return
                await self.rt.storage.execute(
                    "UPDATE acme_authz SET ch_error = ?, next_attempt = ? WHERE id = ? AND ch_status = 'processing'",
                    (orjson.dumps(problem.stored()).decode(), int(time.time() + delay), authz_id),
                )
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("validation of authorization %s failed unexpectedly", authz_id)

    async def _attempt(self, provisioner: str, authz_id: str, ch_type: str) -> tuple[Problem, bool] | None:
        """One check. None when the job is finished (valid, or no longer ours to do); else the problem and
        whether retrying is pointless."""
        row = await self.rt.storage.fetch_one(
            "SELECT a.id_type, a.id_value, a.token, a.ch_type, a.ch_status, a.expires, acc.thumbprint"
            " FROM acme_authz a JOIN acme_accounts acc ON acc.id = a.account_id WHERE a.id = ?",
            (authz_id,),
        )
        if row is None:
            return None
        id_type, value, token, cur_type, cur_status, expires, tp = row
        if cur_status != "processing" or cur_type != ch_type:
            return None
        prov = self.rt.authority.provisioner_by_name(provisioner)
        if prov is None or prov.type.name.upper() != "ACME":
            return Problem("malformed", f"provisioner {provisioner!r} no longer exists"), True
        if int(expires) < time.time():
            return Problem("malformed", "the authorization expired before it could be validated"), True
        try:
            await validate(ch_type, id_type, value, token, key_authorization(token, tp), prov.state)
        except Problem as p:
            log.info("ACME %s of %s (authorization %s) failed: %s", ch_type, value, authz_id, p.detail)
            return p, False
        except Exception as e:
            log.exception("ACME %s of %s: unexpected error", ch_type, value)
            return Problem("connection", f"validation failed: {type(e).__name__}"), False
        await self.rt.storage.execute(
            "UPDATE acme_authz SET status = 'valid', ch_status = 'valid', ch_error = NULL, validated = ?"
            " WHERE id = ? AND ch_status = 'processing' AND status = 'pending'",
            (int(time.time()), authz_id),
        )
        log.info("ACME %s of %s (authorization %s) is valid", ch_type, value, authz_id)
        return None

    async def _fail(self, authz_id: str, problem: Problem) -> None:
        row = await self.rt.storage.fetch_one(
            "SELECT order_id, id_type, id_value, wildcard FROM acme_authz WHERE id = ?", (authz_id,)
        )
        if row is None:
            return
        order_id, id_type, value, wildcard = row
        shown = ("*." if wildcard else "") + value
        err = orjson.dumps(problem.stored()).decode()
        order_err = problem.stored()
        order_err["detail"] = f"authorization of {id_type} identifier {shown} failed: {problem.detail}"
        order_err["identifier"] = {"type": id_type, "value": shown}
        await self.rt.storage.execute_many(
            [
                (
                    "UPDATE acme_authz SET status = 'invalid', ch_status = 'invalid', ch_error = ?"
                    " WHERE id = ? AND ch_status = 'processing'",
                    (err, authz_id),
                ),
                (
                    "UPDATE acme_orders SET status = 'invalid', error = ? WHERE id = ? AND status = 'pending'",
                    (orjson.dumps(order_err).decode(), order_id),
                ),
            ]
        )

    async def recover(self, now: int | None = None) -> int:
        """Take over jobs whose lease ran out (their worker died); returns how many were resumed."""
        now = int(now or time.time())
        rows = await self.rt.storage.fetch_all(
            "SELECT id, provisioner, ch_type, next_attempt FROM acme_authz"
            " WHERE ch_status = 'processing' AND next_attempt < ? LIMIT 100",
            (now - STALE_AFTER,),
        )
        resumed = 0
        for authz_id, prov, ch_type, lease in rows:
            n = await self.rt.storage.execute(
                "UPDATE acme_authz SET next_attempt = ? WHERE id = ? AND next_attempt = ?",
                (now, authz_id, lease),
            )
            if n == 1:
                self.submit(prov, authz_id, ch_type)
                resumed += 1
        return resumed
