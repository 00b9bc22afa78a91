"""Esplora REST API (Blockstream `API.md` shapes) over the chain model, as a Starlette app."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.dev.devchain.chain import Block, Chain, RejectError
from app.dev.devchain.primitives import (
    Tx,
    address_to_spk,
    difficulty,
    merkle_branch,
    parse_tx,
    script_asm,
    script_pushes,
    script_type,
    scripthash,
    spk_address,
)

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
MEMPOOL_PAGE = 50
CHAIN_PAGE = 25
BLOCK_TXS_PAGE = 25


class HttpError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _text(s: str | int, status: int = 200) -> PlainTextResponse:
    return PlainTextResponse(str(s), status_code=status)


def _hash_param(value: str) -> str:
    if not HEX64.match(value):
        raise HttpError(400, "Invalid hex string")
    return value.lower()


def _int_param(value: str) -> int:
    try:
        n = int(value)
    except ValueError as exc:
        raise HttpError(400, "Invalid integer") from exc
    if n < 0:
        raise HttpError(400, "Invalid integer")
    return n


class EsploraView:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        # a tx's JSON except `status` never changes (txid commits to inputs; prevouts are fixed)
        self._tx_cache: dict[str, dict[str, Any]] = {}
        self._spk_cache: dict[bytes, dict[str, Any]] = {}

    # ----------------------------------------------------------- json shapes

    def status_json(self, txid: str) -> dict[str, Any]:
        st = self.chain.status(txid)
        if not st.confirmed:
            return {"confirmed": False}
        return {
            "confirmed": True,
            "block_height": st.height,
            "block_hash": st.block_hash,
            "block_time": st.block_time,
        }

    def vout_json(self, spk: bytes, value: int) -> dict[str, Any]:
        base = self._spk_cache.get(spk)
        if base is None:
            base = {
                "scriptpubkey": spk.hex(),
                "scriptpubkey_asm": script_asm(spk),
                "scriptpubkey_type": script_type(spk),
            }
            addr = spk_address(spk)
            if addr is not None:
                base["scriptpubkey_address"] = addr
            if len(self._spk_cache) > 200_000:
                self._spk_cache.clear()
            self._spk_cache[spk] = base
        return {**base, "value": value}

    def tx_json(self, tx: Tx) -> dict[str, Any]:
        cached = self._tx_cache.get(tx.txid)
        if cached is None or cached["fee"] != tx.fee:
            cached = self._tx_static_json(tx)
            self._tx_cache[tx.txid] = cached
        return {**cached, "status": self.status_json(tx.txid)}

    def _tx_static_json(self, tx: Tx) -> dict[str, Any]:
        vin = []
        for inp in tx.vin:
            if tx.is_coinbase:
                item: dict[str, Any] = {
                    "txid": inp.txid,
                    "vout": inp.vout,
                    "prevout": None,
                    "scriptsig": inp.script_sig.hex(),
                    "scriptsig_asm": script_asm(inp.script_sig),
                    "witness": [w.hex() for w in inp.witness],
                    "is_coinbase": True,
                    "sequence": inp.sequence,
                }
                vin.append(item)
                continue
            p = self.chain.prevout(inp)
            item = {
                "txid": inp.txid,
                "vout": inp.vout,
                "prevout": self.vout_json(p.spk, p.value) if p else None,
                "scriptsig": inp.script_sig.hex(),
                "scriptsig_asm": script_asm(inp.script_sig),
            }
            if inp.witness:
                item["witness"] = [w.hex() for w in inp.witness]
            item["is_coinbase"] = False
            item["sequence"] = inp.sequence
            if p is not None:
                kind = script_type(p.spk)
                if kind == "p2sh":
                    pushes = script_pushes(inp.script_sig)
                    if pushes:
                        item["inner_redeemscript_asm"] = script_asm(pushes[-1])
                if (kind == "v0_p2wsh" or (kind == "p2sh" and len(inp.witness) > 2)) and inp.witness:
                    item["inner_witnessscript_asm"] = script_asm(inp.witness[-1])
            vin.append(item)
        return {
            "txid": tx.txid,
            "version": tx.version,
            "locktime": tx.locktime,
            "vin": vin,
            "vout": [self.vout_json(o.spk, o.value) for o in tx.vout],
            "size": tx.size,
            "weight": tx.weight,
            "fee": tx.fee,
        }

    def block_json(self, b: Block) -> dict[str, Any]:
        h = b.header
        times = [self.chain.blocks[self.chain.active[i]].time for i in range(max(0, b.height - 10), b.height + 1)]
        d: dict[str, Any] = {
            "id": b.hash,
            "height": b.height,
            "version": h.version,
            "timestamp": h.time,
            "tx_count": len(b.txids),
            "size": b.size,
            "weight": b.weight,
            "merkle_root": h.merkle_root,
            "previousblockhash": h.prev_hash if b.height > 0 else None,
            "mediantime": sorted(times)[len(times) // 2],
            "nonce": h.nonce,
            "bits": h.bits,
            "difficulty": difficulty(h.bits),
        }
        if b.height == 0:
            del d["previousblockhash"]
        return d

    # ----------------------------------------------------------- lookups

    def tx(self, txid: str) -> Tx:
        tx = self.chain.get_tx(_hash_param(txid))
        if tx is None:
            raise HttpError(404, "Transaction not found")
        return tx

    def block(self, bhash: str) -> Block:
        b = self.chain.blocks.get(_hash_param(bhash))
        if b is None:
            raise HttpError(404, "Block not found")
        return b

    def script_from(self, kind: str, value: str) -> str:
        if kind == "address":
            try:
                spk = address_to_spk(value)
            except ValueError as exc:
                from embit.script import address_to_scriptpubkey

                try:
                    address_to_scriptpubkey(value)
                except Exception:
                    raise HttpError(400, "Invalid Bitcoin address") from exc
                raise HttpError(400, "Address on invalid network") from exc
            return scripthash(spk)
        # Esplora's REST scripthash is the plain SHA256 digest of the scriptPubKey (electrs
        # `parse_scripthash`); the chain index uses Electrum's byte-reversed form.
        if not HEX64.match(value):
            raise HttpError(400, "Invalid scripthash")
        return bytes.fromhex(value)[::-1].hex()

    def stats(self, sh: str) -> dict[str, Any]:
        ch = self.chain
        conf, mem = ch.history(sh)

        def part(txs: list[Tx], confirmed: bool) -> dict[str, int]:
            funded_n = funded_sum = spent_n = spent_sum = 0
            for tx in txs:
                for o in tx.vout:
                    if scripthash(o.spk) == sh:
                        funded_n += 1
                        funded_sum += o.value
                if not tx.is_coinbase:
                    for inp in tx.vin:
                        p = ch.prevout(inp)
                        if p is not None and scripthash(p.spk) == sh:
                            spent_n += 1
                            spent_sum += p.value
            return {
                "funded_txo_count": funded_n,
                "funded_txo_sum": funded_sum,
                "spent_txo_count": spent_n,
                "spent_txo_sum": spent_sum,
                "tx_count": len(txs),
            }

        return {"chain_stats": part(conf, True), "mempool_stats": part(mem, False)}

    def utxos(self, sh: str) -> list[dict[str, Any]]:
        ch = self.chain
        conf, mem = ch.history(sh)
        res = []
        for tx in conf + mem:
            for n, o in enumerate(tx.vout):
                if scripthash(o.spk) == sh and ch.spender(tx.txid, n) is None:
                    res.append({"txid": tx.txid, "vout": n, "status": self.status_json(tx.txid), "value": o.value})
        return res


def build_app(chain: Chain, latency_ms: int = 0) -> Starlette:
    view = EsploraView(chain)
    delay = latency_ms / 1000.0

    def endpoint(fn: Any) -> Any:
        async def handler(request: Request) -> Response:
            if delay:
                await asyncio.sleep(delay)
            try:
                result = fn(request, **request.path_params)
                if asyncio.iscoroutine(result):
                    result = await result
                return result
            except HttpError as e:
                return _text(e.text, e.status)

        return handler

    def j(data: Any) -> JSONResponse:
        return JSONResponse(data)

    # ------------------------------------------------------------------ blocks

    def blocks_tip_height(_r: Request) -> Response:
        return _text(chain.height)

    def blocks_tip_hash(_r: Request) -> Response:
        return _text(chain.tip.hash)

    def blocks_list(_r: Request, start: str | None = None) -> Response:
        h = chain.height if start is None else min(_int_param(start), chain.height)
        out: list[dict[str, Any]] = []
        while h >= 0 and len(out) < 10:
            b = chain.block_at(h)
            assert b is not None
            out.append(view.block_json(b))
            h -= 1
        return j(out)

    def block_height(_r: Request, height: str) -> Response:
        b = chain.block_at(_int_param(height))
        if b is None:
            raise HttpError(404, "Block not found")
        return _text(b.hash)

    def block_info(_r: Request, bhash: str) -> Response:
        return j(view.block_json(view.block(bhash)))

    def block_status(_r: Request, bhash: str) -> Response:
        b = view.block(bhash)
        if not chain.in_best_chain(b.hash):
            return j({"in_best_chain": False})
        nxt = chain.block_at(b.height + 1)
        return j({"in_best_chain": True, "height": b.height, "next_best": nxt.hash if nxt else None})

    def block_header(_r: Request, bhash: str) -> Response:
        return _text(view.block(bhash).header_raw.hex())

    def block_raw(_r: Request, bhash: str) -> Response:
        b = view.block(bhash)
        from app.dev.devchain.primitives import compact_size

        txs = chain.block_txs[b.hash]
        data = b.header_raw + compact_size(len(txs)) + b"".join(t.raw for t in txs)
        return Response(data, media_type="application/octet-stream")

    def block_txids(_r: Request, bhash: str) -> Response:
        return j(view.block(bhash).txids)

    def block_txid_at(_r: Request, bhash: str, index: str) -> Response:
        b = view.block(bhash)
        i = _int_param(index)
        if i >= len(b.txids):
            raise HttpError(404, "Transaction not found")
        return _text(b.txids[i])

    def block_txs(_r: Request, bhash: str, start: str = "0") -> Response:
        b = view.block(bhash)
        i = _int_param(start)
        if i % BLOCK_TXS_PAGE != 0:
            raise HttpError(400, f"start index must be a multipication of {BLOCK_TXS_PAGE}")
        if i >= len(b.txids) and i > 0:
            raise HttpError(400, "start index out of range")
        txs = chain.block_txs[b.hash][i : i + BLOCK_TXS_PAGE]
        return j([view.tx_json(t) for t in txs])

    # ------------------------------------------------------------------ transactions

    def tx_info(_r: Request, txid: str) -> Response:
        return j(view.tx_json(view.tx(txid)))

    def tx_hex(_r: Request, txid: str) -> Response:
        return _text(view.tx(txid).raw.hex())

    def tx_raw(_r: Request, txid: str) -> Response:
        return Response(view.tx(txid).raw, media_type="application/octet-stream")

    def tx_status(_r: Request, txid: str) -> Response:
        return j(view.status_json(view.tx(txid).txid))

    def tx_merkle_proof(_r: Request, txid: str) -> Response:
        tx = view.tx(txid)
        st = chain.status(tx.txid)
        if not st.confirmed:
            raise HttpError(404, "Transaction not found")
        b = chain.blocks[st.block_hash]
        leaves = [bytes.fromhex(t)[::-1] for t in b.txids]
        branch = [h[::-1].hex() for h in merkle_branch(leaves, st.pos)]
        return j({"block_height": st.height, "merkle": branch, "pos": st.pos})

    def tx_outspends(_r: Request, txid: str) -> Response:
        tx = view.tx(txid)
        out: list[dict[str, Any]] = []
        for n in range(len(tx.vout)):
            sp = chain.spender(tx.txid, n)
            if sp is None:
                out.append({"spent": False})
            else:
                out.append({"spent": True, "txid": sp[0], "vin": sp[1], "status": view.status_json(sp[0])})
        return j(out)

    def tx_outspend(_r: Request, txid: str, vout: str) -> Response:
        tx = view.tx(txid)
        n = _int_param(vout)
        if n >= len(tx.vout):
            raise HttpError(404, "Transaction output not found")
        sp = chain.spender(tx.txid, n)
        if sp is None:
            return j({"spent": False})
        return j({"spent": True, "txid": sp[0], "vin": sp[1], "status": view.status_json(sp[0])})

    async def tx_post(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace").strip()
        try:
            raw = bytes.fromhex(body)
        except ValueError:
            raise HttpError(400, 'sendrawtransaction RPC error: {"code":-22,"message":"TX decode failed"}') from None
        try:
            tx = parse_tx(raw)
        except ValueError:
            raise HttpError(400, 'sendrawtransaction RPC error: {"code":-22,"message":"TX decode failed"}') from None
        try:
            chain.accept(tx)
        except RejectError as e:
            msg = json.dumps({"code": e.code, "message": e.reason}, separators=(",", ":"))
            raise HttpError(400, f"sendrawtransaction RPC error: {msg}") from None
        return _text(tx.txid)

    def fee_estimates(_r: Request) -> Response:
        return j({str(t): r for t, r in sorted(chain.fee_estimates().items())})

    def mempool_info(_r: Request) -> Response:
        txs = chain.mempool_in_order()
        return j(
            {
                "count": len(txs),
                "vsize": sum(t.vsize for t in txs),
                "total_fee": sum(t.fee for t in txs),
                "fee_histogram": [[r, v] for r, v in chain.fee_histogram()],
            }
        )

    def mempool_txids(_r: Request) -> Response:
        return j(list(chain.mempool))

    def mempool_recent(_r: Request) -> Response:
        txs = chain.mempool_in_order()[-10:][::-1]
        return j([{"txid": t.txid, "fee": t.fee, "vsize": t.vsize, "value": sum(o.value for o in t.vout)} for t in txs])

    # ------------------------------------------------------------------ addresses / scripthashes

    def addr_info(_r: Request, kind: str, value: str) -> Response:
        sh = view.script_from(kind, value)
        d: dict[str, Any] = {"address": value} if kind == "address" else {"scripthash": value.lower()}
        d.update(view.stats(sh))
        return j(d)

    def addr_txs(_r: Request, kind: str, value: str) -> Response:
        sh = view.script_from(kind, value)
        conf, mem = chain.history(sh)
        out = [view.tx_json(t) for t in mem[::-1][:MEMPOOL_PAGE]]
        out += [view.tx_json(t) for t in conf[::-1][:CHAIN_PAGE]]
        return j(out)

    def addr_txs_chain(_r: Request, kind: str, value: str, last: str | None = None) -> Response:
        sh = view.script_from(kind, value)
        conf, _mem = chain.history(sh)
        conf = conf[::-1]
        if last is not None:
            last_id = _hash_param(last)
            idx = next((i for i, t in enumerate(conf) if t.txid == last_id), None)
            if idx is None:
                # esplora answers an empty page for an unknown/unconfirmed last_seen
                return j([])
            conf = conf[idx + 1 :]
        return j([view.tx_json(t) for t in conf[:CHAIN_PAGE]])

    def addr_txs_mempool(_r: Request, kind: str, value: str) -> Response:
        sh = view.script_from(kind, value)
        _conf, mem = chain.history(sh)
        return j([view.tx_json(t) for t in mem[::-1][:MEMPOOL_PAGE]])

    def addr_utxo(_r: Request, kind: str, value: str) -> Response:
        return j(view.utxos(view.script_from(kind, value)))

    routes = [
        Route("/blocks/tip/height", endpoint(blocks_tip_height)),
        Route("/blocks/tip/hash", endpoint(blocks_tip_hash)),
        Route("/blocks", endpoint(blocks_list)),
        Route("/blocks/{start}", endpoint(blocks_list)),
        Route("/block-height/{height}", endpoint(block_height)),
        Route("/block/{bhash}", endpoint(block_info)),
        Route("/block/{bhash}/status", endpoint(block_status)),
        Route("/block/{bhash}/header", endpoint(block_header)),
        Route("/block/{bhash}/raw", endpoint(block_raw)),
        Route("/block/{bhash}/txids", endpoint(block_txids)),
        Route("/block/{bhash}/txid/{index}", endpoint(block_txid_at)),
        Route("/block/{bhash}/txs", endpoint(block_txs)),
        Route("/block/{bhash}/txs/{start}", endpoint(block_txs)),
        Route("/tx", endpoint(tx_post), methods=["POST"]),
        Route("/tx/{txid}", endpoint(tx_info)),
        Route("/tx/{txid}/hex", endpoint(tx_hex)),
        Route("/tx/{txid}/raw", endpoint(tx_raw)),
        Route("/tx/{txid}/status", endpoint(tx_status)),
        Route("/tx/{txid}/merkle-proof", endpoint(tx_merkle_proof)),
        Route("/tx/{txid}/outspends", endpoint(tx_outspends)),
        Route("/tx/{txid}/outspend/{vout}", endpoint(tx_outspend)),
        Route("/fee-estimates", endpoint(fee_estimates)),
        Route("/mempool", endpoint(mempool_info)),
        Route("/mempool/txids", endpoint(mempool_txids)),
        Route("/mempool/recent", endpoint(mempool_recent)),
    ]
    for kind in ("address", "scripthash"):

        def bind(fn: Any, kind: str = kind) -> Any:
            def inner(request: Request, **kw: str) -> Response:
                return fn(request, kind, **kw)

            return endpoint(inner)

        routes += [
            Route(f"/{kind}/{{value}}", bind(addr_info)),
            Route(f"/{kind}/{{value}}/txs", bind(addr_txs)),
            Route(f"/{kind}/{{value}}/txs/chain", bind(addr_txs_chain)),
            Route(f"/{kind}/{{value}}/txs/chain/{{last}}", bind(addr_txs_chain)),
            Route(f"/{kind}/{{value}}/txs/mempool", bind(addr_txs_mempool)),
            Route(f"/{kind}/{{value}}/utxo", bind(addr_utxo)),
        ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _text("Not Found", 404)

    return Starlette(routes=routes, exception_handlers={404: not_found})
