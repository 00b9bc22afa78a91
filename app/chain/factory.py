"""Chain backends per network, from settings: created on first use, closed on stop.

Which server a network uses:

0. ``MBF_CHAIN_BACKEND=core`` -> Bitcoin Core at ``MBF_CORE_RPC_URL`` (one node, one network;
   a wallet of another network fails its sync with a message naming both).
1. ``MBF_CHAIN_BACKEND=electrum`` and an Electrum URL for the network
   (``MBF_<NETWORK>_ELECTRUM_URL``, else ``MBF_ELECTRUM_URL``) -> Electrum.
2. An Electrum URL configured for the network while no Esplora URL is (only a public default
   would be used) -> Electrum: an explicit own server beats a public one.
3. Otherwise Esplora at ``MBF_<NETWORK>_ESPLORA_URL``, else ``MBF_ESPLORA_URL``, else the
   well-known public server (mainnet/testnet/signet), with a warning: a public server learns
   every address of the wallets it is asked about.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from app.chain.backend import ChainBackend
from app.chain.core import CoreBackend
from app.chain.electrum import ElectrumBackend
from app.chain.esplora import EsploraBackend
from app.config import NETWORKS, PUBLIC_ESPLORA, Settings
from app.errors import BadInput, UpstreamUnavailable

log = structlog.get_logger(__name__)

PRIVACY_HINT = (
    "A public server learns every address of your wallets and can link them to your IP "
    "address. Point at your own node: MBF_{NET}_ESPLORA_URL=http://<your-electrs>:3002 "
    "or MBF_CHAIN_BACKEND=electrum with MBF_{NET}_ELECTRUM_URL=tcp://<your-electrs>:50001."
)


def _explicit_esplora(settings: Settings, network: str) -> str | None:
    return getattr(settings, f"{network}_esplora_url", None) or settings.esplora_url


def resolve(settings: Settings, network: str) -> tuple[str, str, bool]:
    """(kind, url, is_public_default) for ``network``; ``UpstreamUnavailable`` when none."""
    if network not in NETWORKS:
        raise BadInput(f"Unknown network {network!r}", field="network")
    if settings.chain_backend == "core":
        if not settings.core_rpc_url:
            raise UpstreamUnavailable(
                "MBF_CHAIN_BACKEND=core but no Bitcoin Core RPC URL is configured",
                hint="Set MBF_CORE_RPC_URL=http://<node>:8332 and MBF_CORE_RPC_COOKIE_FILE "
                "or MBF_CORE_RPC_USER/_PASSWORD.",
            )
        return "core", settings.core_rpc_url, False
    electrum = settings.electrum_url_for(network)
    esplora_explicit = _explicit_esplora(settings, network)
    if electrum and (settings.chain_backend == "electrum" or not esplora_explicit):
        return "electrum", electrum, False
    if esplora_explicit:
        return "esplora", esplora_explicit, False
    public = PUBLIC_ESPLORA.get(network)
    if public:
        return "esplora", public, True
    raise UpstreamUnavailable(
        f"No chain server is configured for {network}",
        hint=f"Set MBF_{network.upper()}_ESPLORA_URL or MBF_{network.upper()}_ELECTRUM_URL.",
    )


def core_password(settings: Settings) -> str | None:
    """The rpcauth password: ``MBF_CORE_RPC_PASSWORD``, else the content of ``_PASSWORD_FILE``."""
    if settings.core_rpc_password is not None:
        return settings.core_rpc_password.get_secret_value()
    if settings.core_rpc_password_file is not None:
        try:
            return settings.core_rpc_password_file.read_text().strip()
        except OSError as exc:
            raise UpstreamUnavailable(
                f"Cannot read MBF_CORE_RPC_PASSWORD_FILE {settings.core_rpc_password_file}: {exc.strerror}",
                hint="Make the file readable by this user.",
            ) from None
    return None


class ChainBackends:
    """The container's registry of chain backends (a component: start/stop/health)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._backends: dict[str, ChainBackend] = {}
        self._lock = asyncio.Lock()

    def public_default_networks(self) -> list[str]:
        out: list[str] = []
        for network in NETWORKS:
            try:
                if resolve(self.settings, network)[2]:
                    out.append(network)
            except UpstreamUnavailable:
                continue
        return out

    async def start(self) -> None:
        public = self.public_default_networks()
        if public:
            log.warning(
                "chain_public_servers",
                networks=public,
                servers={n: PUBLIC_ESPLORA[n] for n in public},
                hint=PRIVACY_HINT.replace("{NET}", "<NETWORK>"),
            )

    def build(self, network: str) -> ChainBackend:
        kind, url, public = resolve(self.settings, network)
        s = self.settings
        if public:
            log.warning(
                "chain_public_server_in_use",
                network=network,
                server=url,
                hint=PRIVACY_HINT.replace("{NET}", network.upper()),
            )
        if kind == "core":
            return CoreBackend(
                url,
                network=network,
                user=s.core_rpc_user,
                password=core_password(s),
                cookie_file=s.core_rpc_cookie_file,
                wallet_prefix=s.core_wallet_prefix,
                rescan_since=s.core_rescan_since,
                timeout_s=s.chain_timeout_s,
                retries=s.chain_retries,
                concurrency=s.chain_concurrency,
                zmq_hashblock=s.core_zmq_hashblock,
                zmq_rawtx=s.core_zmq_rawtx,
                poll_s=s.core_poll_s,
            )
        if kind == "electrum":
            return ElectrumBackend(
                url,
                network=network,
                timeout_s=s.chain_timeout_s,
                retries=s.chain_retries,
                concurrency=s.chain_concurrency,
                tls_cert=s.electrum_tls_cert,
            )
        return EsploraBackend(
            url,
            network=network,
            timeout_s=s.chain_timeout_s,
            retries=s.chain_retries,
            concurrency=s.chain_concurrency,
        )

    async def get(self, network: str) -> ChainBackend:
        backend = self._backends.get(network)
        if backend is not None:
            return backend
        async with self._lock:
            backend = self._backends.get(network)
            if backend is None:
                backend = self.build(network)
                self._backends[network] = backend
                log.info("chain_backend_ready", network=network, backend=backend.name, server=backend.url)
            return backend

    def active(self) -> dict[str, ChainBackend]:
        return dict(self._backends)

    async def stop(self) -> None:
        backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            try:
                await backend.close()
            except Exception:
                log.exception("chain_backend_close_failed", server=backend.url)

    async def health(self) -> dict[str, Any]:
        if not self._backends:
            return {"status": "ok", "backends": {}}
        results = await asyncio.gather(*(b.health() for b in self._backends.values()))
        report = dict(zip(self._backends.keys(), results, strict=True))
        ok = all(r.get("ok") for r in results)
        return {"status": "ok" if ok else "degraded", "backends": report}
