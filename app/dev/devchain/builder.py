"""Keys, wallets and transaction construction/signing with embit.

Supported spend types: P2WPKH, P2SH-P2WPKH, P2PKH, P2TR key path (BIP86) and 2-of-3 P2WSH sortedmulti.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from embit import bip32, ec
from embit.descriptor.checksum import add_checksum
from embit.script import Script, Witness
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from app.dev.devchain.primitives import (
    REGTEST,
    SEQUENCE_FINAL,
    SEQUENCE_RBF,
    Tx,
    TxOut,
    push_data,
    spk_address,
    tx_from_embit,
)

# script type -> (BIP purpose path, input vbytes estimate, output vbytes)
SCRIPT_TYPES: dict[str, tuple[str, float, int]] = {
    "p2wpkh": ("84h/1h/0h", 68.0, 31),
    "p2sh-p2wpkh": ("49h/1h/0h", 91.0, 32),
    "p2pkh": ("44h/1h/0h", 148.0, 34),
    "p2tr": ("86h/1h/0h", 57.5, 43),
    "p2wsh-multi": ("48h/1h/0h/2h", 104.5, 43),
}


def spk_vbytes(spk: bytes) -> int:
    return 9 + len(spk)


def input_vbytes(kind: str) -> float:
    return SCRIPT_TYPES[kind][1]


def estimate_vsize(input_kinds: list[str], out_spks: list[bytes]) -> int:
    v = 10.5 + sum(input_vbytes(k) for k in input_kinds) + sum(spk_vbytes(s) for s in out_spks)
    return math.ceil(v)


@dataclass(slots=True)
class KeyInfo:
    """What is needed to sign for one scriptPubKey."""

    kind: str
    secrets: list[bytes]  # one key, or the 2 signing keys of a sortedmulti (in script order)
    pubkeys: list[bytes]  # sec encodings; for multisig all 3 in script order
    script: bytes = b""  # witness script (multisig) or redeem script (p2sh-p2wpkh)


def _hash160(b: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(b).digest()).digest()


def keyinfo_spk(info: KeyInfo) -> bytes:
    pub = info.pubkeys[0]
    if info.kind == "p2wpkh":
        return b"\x00\x14" + _hash160(pub)
    if info.kind == "p2sh-p2wpkh":
        return b"\xa9\x14" + _hash160(info.script) + b"\x87"
    if info.kind == "p2pkh":
        return b"\x76\xa9\x14" + _hash160(pub) + b"\x88\xac"
    if info.kind == "p2tr":
        tweaked = ec.PublicKey.parse(pub).taproot_tweak(b"")
        return b"\x51\x20" + tweaked.xonly()
    if info.kind == "p2wsh-multi":
        return b"\x00\x20" + hashlib.sha256(info.script).digest()
    raise ValueError(info.kind)


def single_key_info(kind: str, secret: bytes) -> KeyInfo:
    pub = ec.PrivateKey(secret).sec()
    script = b""
    if kind == "p2sh-p2wpkh":
        script = b"\x00\x14" + _hash160(pub)
    return KeyInfo(kind=kind, secrets=[secret], pubkeys=[pub], script=script)


def multisig_info(secrets: list[bytes]) -> KeyInfo:
    pairs = sorted(((ec.PrivateKey(s).sec(), s) for s in secrets), key=lambda p: p[0])
    pubs = [p for p, _ in pairs]
    script = bytes([0x52]) + b"".join(push_data(p) for p in pubs) + bytes([0x53, 0xAE])
    # sign with the first two keys in script order so signatures come out in the right order
    return KeyInfo(kind="p2wsh-multi", secrets=[pairs[0][1], pairs[1][1]], pubkeys=pubs, script=script)


@dataclass
class Account:
    """A BIP32 account key of one cosigner."""

    root: bip32.HDKey
    path: str
    fingerprint: str
    xprv: bip32.HDKey
    chains: list[bip32.HDKey]

    @classmethod
    def from_seed(cls, seed: bytes, path: str) -> Account:
        root = bip32.HDKey.from_seed(seed, version=REGTEST["xprv"])
        xprv = root.derive("m/" + path)
        return cls(
            root=root,
            path=path,
            fingerprint=root.my_fingerprint.hex(),
            xprv=xprv,
            chains=[xprv.child(0), xprv.child(1)],
        )

    @property
    def xpub(self) -> str:
        return str(self.xprv.to_public().to_base58(version=REGTEST["xpub"]))

    @property
    def origin(self) -> str:
        return f"[{self.fingerprint}/{self.path}]"

    def secret(self, chain: int, index: int) -> bytes:
        return bytes(self.chains[chain].child(index).secret)


@dataclass
class Wallet:
    """A scenario wallet: descriptor pair plus the addresses the scenario has handed out."""

    name: str
    kind: str
    accounts: list[Account]
    next_index: list[int] = field(default_factory=lambda: [0, 0])
    spks: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # spk -> (chain, index)
    keys: dict[bytes, KeyInfo] = field(default_factory=dict)

    @classmethod
    def create(cls, name: str, kind: str, seed_material: str) -> Wallet:
        path = SCRIPT_TYPES[kind][0]
        n = 3 if kind == "p2wsh-multi" else 1
        accounts = [
            Account.from_seed(hashlib.sha256(f"{seed_material}/{name}/{i}".encode()).digest(), path) for i in range(n)
        ]
        return cls(name=name, kind=kind, accounts=accounts)

    def key_info(self, chain: int, index: int) -> KeyInfo:
        if self.kind == "p2wsh-multi":
            return multisig_info([a.secret(chain, index) for a in self.accounts])
        return single_key_info(self.kind, self.accounts[0].secret(chain, index))

    def derive(self, chain: int, index: int) -> bytes:
        info = self.key_info(chain, index)
        spk = keyinfo_spk(info)
        self.spks[spk] = (chain, index)
        self.keys[spk] = info
        return spk

    def new_address(self, chain: int = 0) -> bytes:
        idx = self.next_index[chain]
        self.next_index[chain] += 1
        return self.derive(chain, idx)

    def ensure_lookahead(self, gap: int = 20) -> None:
        """Derive `gap` scripts past the last handed-out index on both chains (a wallet's gap limit)."""
        derived = {pos for pos in self.spks.values()}
        for chain in (0, 1):
            for index in range(self.next_index[chain] + gap):
                if (chain, index) not in derived:
                    self.derive(chain, index)

    def used_spk(self, chain: int, index: int) -> bytes:
        for spk, pos in self.spks.items():
            if pos == (chain, index):
                return spk
        return self.derive(chain, index)

    def _wrap(self, keys: list[str]) -> str:
        """The checksummed descriptor of this wallet's script kind over ``keys``."""
        if self.kind == "p2wpkh":
            desc = f"wpkh({keys[0]})"
        elif self.kind == "p2sh-p2wpkh":
            desc = f"sh(wpkh({keys[0]}))"
        elif self.kind == "p2pkh":
            desc = f"pkh({keys[0]})"
        elif self.kind == "p2tr":
            desc = f"tr({keys[0]})"
        else:
            desc = f"wsh(sortedmulti(2,{','.join(keys)}))"
        return str(add_checksum(desc))

    def descriptor(self, chain: int | None) -> str:
        suffix = "<0;1>/*" if chain is None else f"{chain}/*"
        keys = [f"{a.origin}{a.xpub}/{suffix}" for a in self.accounts]
        return self._wrap(keys)

    def private_descriptor(self, chain: int) -> str:
        """The descriptor with tprvs (all cosigners), for tests that sign with another wallet library."""
        keys = [f"{a.origin}{a.xprv.to_base58(version=REGTEST['xprv'])}/{chain}/*" for a in self.accounts]
        return self._wrap(keys)

    def public_info(self) -> dict[str, object]:
        first = self.accounts[0]
        return {
            "name": self.name,
            "scriptType": self.kind,
            "network": "regtest",
            "descriptor": self.descriptor(None),
            "descriptors": {"receive": self.descriptor(0), "change": self.descriptor(1)},
            "xpub": first.xpub,
            "origin": first.origin,
            "keys": [{"xpub": a.xpub, "origin": a.origin} for a in self.accounts],
            "firstAddress": spk_address(self.used_spk(0, 0)),
        }


@dataclass(slots=True)
class Coin:
    txid: str
    vout: int
    value: int
    spk: bytes


class SignError(Exception):
    pass


def build_and_sign(
    coins: list[Coin],
    keys: list[KeyInfo],
    outputs: list[TxOut],
    rbf: bool = False,
    locktime: int = 0,
    sequence: int | None = None,
) -> Tx:
    """Build a version-2 transaction spending `coins` to `outputs` and sign every input with embit
    (``sequence``, when given, on every input instead of the RBF / non-RBF default)."""
    seq = sequence if sequence is not None else SEQUENCE_RBF if rbf else SEQUENCE_FINAL - 1
    vin = [TransactionInput(bytes.fromhex(c.txid), c.vout, sequence=seq) for c in coins]
    vout = [TransactionOutput(o.value, Script(o.spk)) for o in outputs]
    etx = Transaction(version=2, vin=vin, vout=vout, locktime=locktime)
    taproot_data: tuple[list[Script], list[int]] | None = None
    for i, (coin, info) in enumerate(zip(coins, keys, strict=True)):
        kind = info.kind
        if kind in ("p2wpkh", "p2sh-p2wpkh"):
            pub = info.pubkeys[0]
            code = Script(b"\x76\xa9\x14" + _hash160(pub) + b"\x88\xac")
            h = etx.sighash_segwit(i, code, coin.value, SIGHASH.ALL)
            sig = ec.PrivateKey(info.secrets[0]).sign(h, grind=False).serialize() + b"\x01"
            vin[i].witness = Witness([sig, pub])
            if kind == "p2sh-p2wpkh":
                vin[i].script_sig = Script(push_data(info.script))
        elif kind == "p2pkh":
            h = etx.sighash_legacy(i, Script(coin.spk), SIGHASH.ALL)
            sig = ec.PrivateKey(info.secrets[0]).sign(h, grind=False).serialize() + b"\x01"
            vin[i].script_sig = Script(push_data(sig) + push_data(info.pubkeys[0]))
        elif kind == "p2tr":
            if taproot_data is None:
                taproot_data = ([Script(c.spk) for c in coins], [c.value for c in coins])
            h = etx.sighash_taproot(i, taproot_data[0], taproot_data[1], SIGHASH.DEFAULT)
            tweaked = ec.PrivateKey(info.secrets[0]).taproot_tweak(b"")
            vin[i].witness = Witness([tweaked.schnorr_sign(h).serialize()])
        elif kind == "p2wsh-multi":
            code = Script(info.script)
            h = etx.sighash_segwit(i, code, coin.value, SIGHASH.ALL)
            sigs = [ec.PrivateKey(s).sign(h, grind=False).serialize() + b"\x01" for s in info.secrets]
            vin[i].witness = Witness([b"", *sigs, info.script])
        else:
            raise SignError(f"cannot sign {kind}")
    return tx_from_embit(etx)


# ------------------------------------------------------------- verification


def verify_input(tx: Tx, index: int, prevouts: list[TxOut]) -> bool:
    """Verify the signature(s) of one input for the supported script types."""
    from app.dev.devchain.primitives import script_pushes, script_type

    inp = tx.vin[index]
    prev = prevouts[index]
    kind = script_type(prev.spk)
    etx = Transaction.parse(tx.raw)
    try:
        if kind == "v0_p2wpkh" or (kind == "p2sh" and inp.witness):
            if kind == "p2sh":
                pushes = script_pushes(inp.script_sig)
                if not pushes or len(pushes) != 1 or _hash160(pushes[0]) != prev.spk[2:22]:
                    return False
                redeem = pushes[0]
                if len(redeem) == 34 and redeem[:2] == b"\x00\x20":
                    if _verify_wsh_multi(etx, index, inp.witness, redeem[2:], prev.value):
                        return True
                    return _run_script(etx, index, inp.witness, redeem[2:], prevouts, taproot=False)
                if not (len(redeem) == 22 and redeem[:2] == b"\x00\x14"):
                    return False
                program = redeem[2:]
            else:
                program = prev.spk[2:]
            if len(inp.witness) != 2 or _hash160(inp.witness[1]) != program:
                return False
            sig, pub = inp.witness
            code = Script(b"\x76\xa9\x14" + program + b"\x88\xac")
            h = etx.sighash_segwit(index, code, prev.value, sig[-1])
            return bool(ec.PublicKey.parse(pub).verify(ec.Signature.parse(sig[:-1]), h))
        if kind == "p2pkh":
            pushes = script_pushes(inp.script_sig)
            if not pushes or len(pushes) != 2 or _hash160(pushes[1]) != prev.spk[3:23]:
                return False
            sig, pub = pushes
            h = etx.sighash_legacy(index, Script(prev.spk), sig[-1])
            return bool(ec.PublicKey.parse(pub).verify(ec.Signature.parse(sig[:-1]), h))
        if kind == "v1_p2tr":
            if len(inp.witness) >= 2:  # script path (BIP-341/342)
                return _run_script(etx, index, inp.witness, prev.spk[2:], prevouts, taproot=True)
            if len(inp.witness) != 1 or len(inp.witness[0]) not in (64, 65):
                return False
            sig = inp.witness[0]
            sighash = sig[64] if len(sig) == 65 else SIGHASH.DEFAULT
            h = etx.sighash_taproot(index, [Script(p.spk) for p in prevouts], [p.value for p in prevouts], sighash)
            pub = ec.PublicKey.from_xonly(prev.spk[2:])
            return bool(pub.schnorr_verify(ec.SchnorrSig.parse(sig[:64]), h))
        if kind == "v0_p2wsh":
            if _verify_wsh_multi(etx, index, inp.witness, prev.spk[2:], prev.value):
                return True
            return _run_script(etx, index, inp.witness, prev.spk[2:], prevouts, taproot=False)
        if kind == "p2sh" and not inp.witness:  # legacy P2SH (multisig, miniscript)
            return _run_legacy(etx, index, inp.script_sig, prev.spk, prevouts, p2sh=True)
        if kind in ("p2pk", "unknown") and not inp.witness:  # bare pk() / multi()
            return _run_legacy(etx, index, inp.script_sig, prev.spk, prevouts, p2sh=False)
    except Exception:
        return False
    return False


def _run_legacy(
    etx: Transaction, index: int, script_sig: bytes, spk: bytes, prevouts: list[TxOut], *, p2sh: bool
) -> bool:
    """A legacy P2SH redeem script or a bare script, run by the script interpreter."""
    from app.bitcoin.interpreter import ScriptFailure, SpendContext, verify_bare, verify_p2sh

    ctx = SpendContext(etx, index, [p.spk for p in prevouts], [p.value for p in prevouts])
    try:
        if p2sh:
            verify_p2sh(script_sig, spk[2:22], ctx)
        else:
            verify_bare(script_sig, spk, ctx)
    except ScriptFailure:
        return False
    return True


def _run_script(
    etx: Transaction, index: int, witness: list[bytes], program: bytes, prevouts: list[TxOut], *, taproot: bool
) -> bool:
    """Any other witness script (miniscript, tapscript leaves): run by the script interpreter."""
    from app.bitcoin.interpreter import ScriptFailure, SpendContext, verify_p2wsh, verify_taproot_script_path

    ctx = SpendContext(etx, index, [p.spk for p in prevouts], [p.value for p in prevouts])
    try:
        (verify_taproot_script_path if taproot else verify_p2wsh)(witness, program, ctx)
    except ScriptFailure:
        return False
    return True


def _verify_wsh_multi(etx: Transaction, index: int, witness: list[bytes], program: bytes, value: int) -> bool:
    from app.dev.devchain.primitives import script_pushes

    if len(witness) < 2 or hashlib.sha256(witness[-1]).digest() != program:
        return False
    ws = witness[-1]
    # only m-of-n CHECKMULTISIG scripts
    if len(ws) < 3 or ws[-1] != 0xAE or not (0x51 <= ws[0] <= 0x60):
        return False
    m = ws[0] - 0x50
    pubs = script_pushes(ws[1:-2])
    if pubs is None or len(pubs) != ws[-2] - 0x50:
        return False
    sigs = witness[1:-1]
    if witness[0] != b"" or len(sigs) != m:
        return False
    code = Script(ws)
    k = 0
    for sig in sigs:
        h = etx.sighash_segwit(index, code, value, sig[-1])
        s = ec.Signature.parse(sig[:-1])
        while k < len(pubs) and not ec.PublicKey.parse(pubs[k]).verify(s, h):
            k += 1
        if k == len(pubs):
            return False
        k += 1
    return True
