"""Bitcoin Core's JSON-RPC over HTTP (httpx): authentication, batches, and Core's failures
turned into errors a node runner can act on.

Authentication is HTTP Basic with either the node's cookie (``<datadir>/.cookie``, rewritten
at every start of bitcoind: it is re-read after a 401) or an ``rpcauth``/``rpcuser`` pair.
Amounts in answers are parsed as ``Decimal`` (never floats) and converted with :func:`sats`.

What Core answers and how it is reported (codes from Core's ``src/rpc/protocol.h``):

- HTTP 401 (empty body): wrong credentials -> ``UpstreamUnavailable`` naming the settings;
- HTTP 403: ``rpcwhitelist`` forbids the method;
- HTTP 503 ``Work queue depth exceeded``: retried with backoff, then ``UpstreamUnavailable``
  with a hint about ``-rpcworkqueue``;
- ``-28`` (``RPC_IN_WARMUP``): the node is still starting;
- every other JSON-RPC error is a :class:`CoreRpcError` carrying Core's code and message, for
  the caller to interpret (wallet already loaded, method not found on ``-disablewallet``...).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from app.backoff import Backoff
from app.errors import UpstreamUnavailable

# Core's RPC error codes (src/rpc/protocol.h) that callers look at.
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_WALLET_ERROR = -4
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_CLIENT_IN_INITIAL_DOWNLOAD = -10
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_NOT_SPECIFIED = -19
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_CHAIN = -27
RPC_IN_WARMUP = -28
RPC_WALLET_ALREADY_LOADED = -35
RPC_WALLET_ALREADY_EXISTS = -36
RPC_METHOD_NOT_FOUND = -32601

CREDENTIALS_HINT = (
    "Check MBF_CORE_RPC_COOKIE_FILE (bitcoind's <datadir>/.cookie, readable by this user) or "
    "MBF_CORE_RPC_USER with MBF_CORE_RPC_PASSWORD / MBF_CORE_RPC_PASSWORD_FILE (an rpcauth= "
    "line in bitcoin.conf)."
)


class CoreRpcError(Exception):
    """A JSON-RPC error object from Core: its code and message, verbatim."""

    def __init__(self, code: int, message: str, method: str) -> None:
        super().__init__(f"{method}: {message} ({code})")
        self.code = code
        self.message = message
        self.method = method


def sats(btc: Any) -> int:
    """A BTC amount from Core's JSON (parsed as Decimal) to satoshis."""
    return int((Decimal(str(btc)) * 100_000_000).to_integral_value())


def redact_url(url: str) -> str:
    """The URL without user:password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class CoreRpc:
    """One keep-alive HTTP client to bitcoind; ``call`` and ``batch``, optionally on a wallet's
    endpoint (``/wallet/<name>``)."""

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        cookie_file: Path | None = None,
        timeout_s: float = 15.0,
        retries: int = 3,
        concurrency: int = 8,
    ) -> None:
        parts = urlsplit(url)
        if parts.username and not user:
            user, password = parts.username, parts.password or ""
        self.url = redact_url(url)
        self._base = self.url.rstrip("/")
        self._user, self._password = user, password
        self._cookie_file = cookie_file
        self._auth: str | None = None
        self.timeout_s = timeout_s
        self.retries = retries
        self._sem = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), headers={"content-type": "application/json"})
        self._ids = 0
        self.requests = 0

    # -- auth ------------------------------------------------------------------------------------

    def _authorization(self, reload: bool = False) -> str:
        if self._auth is not None and not reload:
            return self._auth
        if self._cookie_file is not None:
            try:
                token = self._cookie_file.read_text().strip()
            except OSError as exc:
                raise UpstreamUnavailable(
                    f"Cannot read Bitcoin Core's cookie file {self._cookie_file}: {exc.strerror}",
                    hint="Point MBF_CORE_RPC_COOKIE_FILE at <datadir>/.cookie (for a network other "
                    "than mainnet, inside its subdirectory, e.g. regtest/.cookie) and make it "
                    "readable by this user, or use rpcauth credentials.",
                ) from None
        elif self._user is not None:
            token = f"{self._user}:{self._password or ''}"
        else:
            raise UpstreamUnavailable(
                f"No credentials for Bitcoin Core at {self.url}",
                hint=CREDENTIALS_HINT,
            )
        self._auth = "Basic " + base64.b64encode(token.encode()).decode()
        return self._auth

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, method: str, *params: Any, wallet: str | None = None, timeout: float | None = -1) -> Any:
        """One call; raises :class:`CoreRpcError` for Core's JSON-RPC errors. ``timeout=None``:
        wait as long as it takes (importdescriptors rescans)."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)}
        reply = await self._post(body, wallet, method, timeout)
        return _result(reply, method)

    async def batch(
        self, calls: Sequence[tuple[str, Sequence[Any]]], *, wallet: str | None = None, size: int = 500
    ) -> list[Any]:
        """Many calls in JSON-RPC batches; each answer is the result or a :class:`CoreRpcError`."""
        out: list[Any] = []
        chunks = [calls[i : i + size] for i in range(0, len(calls), size)]

        async def one(chunk: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
            body = []
            for method, params in chunk:
                self._ids += 1
                body.append({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)})
            replies = await self._post(body, wallet, chunk[0][0] if chunk else "batch", -1)
            if not isinstance(replies, list):
                # a batch-level error (e.g. the wallet endpoint does not exist)
                err = _error_of(replies, chunk[0][0])
                return [err] * len(chunk)
            by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
            res: list[Any] = []
            for req in body:
                r = by_id.get(req["id"])
                if r is None:
                    res.append(CoreRpcError(-32603, "no answer in the batch", str(req["method"])))
                    continue
                try:
                    res.append(_result(r, str(req["method"])))
                except CoreRpcError as e:
                    res.append(e)
            return res

        for chunk_result in await asyncio.gather(*(one(c) for c in chunks if c)):
            out.extend(chunk_result)
        return out

    async def _post(self, body: Any, wallet: str | None, method: str, timeout: float | None) -> Any:
        path = self._base + ("/wallet/" + quote(wallet, safe="") if wallet is not None else "/")
        data = json.dumps(body).encode()
        attempt = 0
        reloaded = False
        while True:
            attempt += 1
            try:
                async with self._sem:
                    self.requests += 1
                    kw: dict[str, Any] = {}
                    if timeout != -1:
                        kw["timeout"] = httpx.Timeout(timeout)
                    resp = await self._client.post(
                        path, content=data, headers={"authorization": self._authorization()}, **kw
                    )
            except (httpx.TransportError, OSError) as exc:
                if attempt <= self.retries:
                    await _backoff(attempt)
                    continue
                raise UpstreamUnavailable(
                    f"Bitcoin Core at {self.url} is unreachable ({type(exc).__name__}) during {method}",
                    hint="Check MBF_CORE_RPC_URL and that bitcoind runs with server=1 and an "
                    "rpcbind/rpcallowip that admits this host.",
                ) from None
            status = resp.status_code
            if status == 401:
                if self._cookie_file is not None and not reloaded:
                    reloaded = True  # bitcoind restarted and wrote a new cookie
                    self._authorization(reload=True)
                    continue
                raise UpstreamUnavailable(
                    f"Bitcoin Core at {self.url} refused the RPC credentials (HTTP 401)", hint=CREDENTIALS_HINT
                )
            if status == 403:
                raise UpstreamUnavailable(
                    f"Bitcoin Core at {self.url} forbids {method} for this RPC user (HTTP 403)",
                    hint="Allow it in the user's rpcwhitelist= line of bitcoin.conf.",
                )
            if status == 503 or (status == 500 and b"Work queue depth exceeded" in resp.content):
                if attempt <= self.retries:
                    await _backoff(attempt)
                    continue
                raise UpstreamUnavailable(
                    f"Bitcoin Core at {self.url} is busy: its RPC work queue is full (HTTP {status})",
                    hint="Raise rpcworkqueue= (default 16) and rpcthreads= in bitcoin.conf, or "
                    "lower MBF_CHAIN_CONCURRENCY.",
                )
            try:
                reply = json.loads(resp.content, parse_float=Decimal)
            except ValueError:
                raise UpstreamUnavailable(
                    f"Bitcoin Core at {self.url} answered {method} with HTTP {status} and no JSON",
                    hint="Is MBF_CORE_RPC_URL bitcoind's RPC port (8332 mainnet, 18443 regtest)?",
                ) from None
            return reply

    async def close(self) -> None:
        await self._client.aclose()


def _error_of(reply: Any, method: str) -> CoreRpcError:
    err = reply.get("error") if isinstance(reply, dict) else None
    if isinstance(err, dict):
        return CoreRpcError(int(err.get("code", -32603)), str(err.get("message", "")), method)
    return CoreRpcError(-32603, f"unexpected answer {str(reply)[:80]}", method)


def _result(reply: Any, method: str) -> Any:
    if not isinstance(reply, dict):
        raise _error_of(reply, method)
    if reply.get("error") is not None:
        err = _error_of(reply, method)
        if err.code == RPC_IN_WARMUP:
            raise UpstreamUnavailable(
                f"Bitcoin Core is still starting: {err.message}",
                hint="Wait until bitcoind has loaded its block index; syncs resume by themselves.",
            )
        raise err
    return reply.get("result")


_RETRY = Backoff(0.05, 2.0)  # 50 ms doubling up to 2 s, jitter in [d/2, d)


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(_RETRY.delay(attempt))
