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
from collections.abc import Callable

from plica.api import Provisioner

from .challenges import key_authorization, validate
from .problems import Problem
from .store import AcmeStore

log = logging.getLogger("plica.acme.validator")

MAX_DELAY = 16.0
STALE_AFTER = 60  # seconds past a lease before another instance takes the job over

# The ACME provisioner of a name, or None (it was removed, or is no longer an ACME one).
ProvisionerLookup = Callable[[str], Provisioner | None]


class Validator:
    def __init__(self, store: AcmeStore, provisioner: ProvisionerLookup, *, concurrency: int = 32) -> None:
        self.store = store
        self.provisioner = provisioner
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
                prov = self.provisioner(provisioner)
                window = prov.state.retry_window if prov is not None else 0.0
                delay = min(2.0**attempt, MAX_DELAY)
                attempt += 1
                if final or time.time() + delay > started + window:
                    await self.fail(authz_id, problem)
                    return
                await self.store.retry_challenge(authz_id, problem.stored(), int(time.time() + delay))
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("validation of authorization %s failed unexpectedly", authz_id)

    async def _attempt(self, provisioner: str, authz_id: str, ch_type: str) -> tuple[Problem, bool] | None:
        """One check. None when the job is finished (valid, or no longer ours to do); else the problem and
        whether retrying is pointless."""
        job = await self.store.challenge_job(authz_id)
        if job is None or job.ch_status != "processing" or job.ch_type != ch_type:
            return None
        prov = self.provisioner(provisioner)
        if prov is None:
            return Problem("malformed", f"provisioner {provisioner!r} no longer exists"), True
        if job.expires < time.time():
            return Problem("malformed", "the authorization expired before it could be validated"), True
        try:
            key_auth = key_authorization(job.token, job.thumbprint)
            await validate(ch_type, job.id_type, job.value, job.token, key_auth, prov.state)
        except Problem as p:
            log.info("ACME %s of %s (authorization %s) failed: %s", ch_type, job.value, authz_id, p.detail)
            return p, False
        except Exception as e:
            log.exception("ACME %s of %s: unexpected error", ch_type, job.value)
            return Problem("connection", f"validation failed: {type(e).__name__}"), False
        await self.store.challenge_valid(authz_id, int(time.time()))
        log.info("ACME %s of %s (authorization %s) is valid", ch_type, job.value, authz_id)
        return None

    async def fail(self, authz_id: str, problem: Problem) -> None:
        """The claimed authorization and its order become invalid with `problem`."""
        found = await self.store.authz_identifier(authz_id)
        if found is None:
            return
        order_id, id_type, value, wildcard = found
        shown = ("*." if wildcard else "") + value
        order_err = problem.stored()
        order_err["detail"] = f"authorization of {id_type} identifier {shown} failed: {problem.detail}"
        order_err["identifier"] = {"type": id_type, "value": shown}
        await self.store.challenge_invalid(authz_id, problem.stored(), order_id, order_err)

    async def recover(self, now: int | None = None) -> int:
        """Take over jobs whose lease ran out (their worker died); returns how many were resumed."""
        now = int(now or time.time())
        resumed = 0
        for authz_id, prov, ch_type, lease in await self.store.stale_challenges(now - STALE_AFTER):
            if await self.store.take_over_challenge(authz_id, lease, now):
                self.submit(prov, authz_id, ch_type)
                resumed += 1
        return resumed
