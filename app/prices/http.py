"""Shared HTTP plumbing for the live providers (httpx, one client passed in)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from typing import Any

import httpx

from app.prices.provider import DailyClose, Price, ProviderError, parse_json


class HttpProvider(ABC):
    """Base class: GET JSON from ``base_url`` with a per-request timeout."""

    name = "http"
    currencies: frozenset[str] = frozenset()

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        timeout_s: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout_s = timeout_s
        self.headers = {"Accept": "application/json", "User-Agent": "mybitcoinfuture", **(headers or {})}

    def supports(self, currency: str) -> bool:
        return currency.upper() in self.currencies

    def _check(self, currency: str) -> str:
        cur = currency.upper()
        if cur not in self.currencies:
            raise ProviderError(f"{self.name} has no BTC/{cur} market")
        return cur

    @abstractmethod
    async def spot(self, currency: str) -> Price:
        """The latest price of one BTC in ``currency``."""

    @abstractmethod
    async def history(self, currency: str, start: date, end: date) -> list[DailyClose]:
        """Daily closes from ``start`` to ``end`` (inclusive) that the provider can give."""

    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            resp = await self.client.get(
                url,
                params=params,
                timeout=self.timeout_s,
                headers=self.headers,
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{self.name}: timed out after {self.timeout_s}s") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise ProviderError(f"{self.name}: HTTP {resp.status_code} from {path}")
        return parse_json(resp.text)
