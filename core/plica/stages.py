"""The points where a request lets the other requests of its event-loop turn catch up.

A worker's event loop resumes, one after another, every request whose bytes arrived in the same turn
(about seven of them at 32 connections over two workers). Each used to run through all of its steps
before the next one began: the CSR's signature check, the token's, the leaf's encoding, the signature.
By the time the next request reached a step, what the step had used (the elliptic-curve code and its
precomputed tables, the Python code of the checks) had been pushed out of the CPU's caches by the rest.
`next_step()` between the steps sends the request to the back of the loop's queue, so that the requests
of a turn run one step together, then the next: the same work, with each step's code and data warm.
The steps of /sign and /ssh/sign: decoding the body; checking it (the CSR's signature, the SSH key);
the token and the provisioner's authorization; building the certificate; the CA key's signature; the
group commit (plica.storage.group_commit, one transaction for the turn); building the answer; aiohttp
writing it. Every JSON body's decoding is a step (plica.http.wire.read_json); the other ways to a
certificate (ACME, SCEP, renewal, the admin API) share the signature's.

bench/ab_slices.py measures it against a checkout without it (figures in the README). A step boundary
costs about a microsecond. What a later step relies on travels with the request; a configuration reload
may land between two steps, as it may between two requests.
"""

from __future__ import annotations

import asyncio


async def next_step() -> None:
    """Let every request already waiting in this loop turn finish its current step first."""
    await asyncio.sleep(0)
