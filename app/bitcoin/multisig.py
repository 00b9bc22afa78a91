"""Multisig wallets from cosigner keys (``createMultisigWallet``).

Rules, each answered with a :class:`~app.errors.BadInput` naming the faulty input
(``cosigners.<i>.xpub`` etc., ``i`` counting from 0):

- 1 ≤ threshold ≤ n ≤ 15 cosigners; script type P2WSH (default), P2SH_P2WSH or P2SH;
- keys are sorted per address (BIP67, ``sortedmulti``);
- every key must be of the wallet's network (so mixed networks are refused) and appear once;
- each cosigner needs a key origin (master fingerprint + path) so hardware signers recognise
  their key in PSBTs: the fingerprint is required unless the key is a master key (depth 0),
  the path defaults to BIP48 ``m/48'/coin'/0'/2'`` (P2WSH), ``m/48'/coin'/0'/1'`` (P2SH-P2WSH) or
  BIP45 ``m/45'`` (P2SH) and must match the key's depth;
- SLIP-132 ``Ypub``/``Zpub`` (``Upub``/``Vpub``) keys imply P2SH-P2WSH/P2WSH; single-signature
  ``ypub``/``zpub`` keys are refused as cosigners.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.bitcoin.descriptors import KeyExpression, WalletDescriptor
from app.bitcoin.keys import (
    HARDENED,
    KeyOrigin,
    format_path,
    parse_extended_key,
    parse_fingerprint,
    parse_path,
)
from app.bitcoin.networks import Network
from app.bitcoin.scripts import MAX_MULTISIG_KEYS, MAX_P2SH_MULTISIG_KEYS, MULTISIG_TYPES, ScriptType
from app.errors import BadInput


@dataclass(frozen=True)
class CosignerSpec:
    """A cosigner as the user gives it (strings, optional parts)."""

    xpub: str
    name: str | None = None
    fingerprint: str | None = None
    derivation_path: str | None = None


@dataclass(frozen=True)
class Cosigner:
    """A validated cosigner, as stored and shown."""

    name: str
    xpub: str  # canonical xpub/tpub
    fingerprint: str  # 8 hex
    derivation_path: str  # m/48h/0h/0h/2h

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "xpub": self.xpub,
            "fingerprint": self.fingerprint,
            "derivation_path": self.derivation_path,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Cosigner:
        return cls(data["name"], data["xpub"], data["fingerprint"], data["derivation_path"])


def default_multisig_path(script_type: ScriptType, network: Network, account: int = 0) -> tuple[int, ...]:
    """BIP48 for P2WSH (script 2') and P2SH-P2WSH (1'), BIP45 for legacy P2SH."""
    h = HARDENED
    if script_type is ScriptType.P2WSH:
        return (48 | h, network.coin_type | h, account | h, 2 | h)
    if script_type is ScriptType.P2SH_P2WSH:
        return (48 | h, network.coin_type | h, account | h, 1 | h)
    if script_type is ScriptType.P2SH:
        return (45 | h,)
    raise ValueError(f"{script_type} is not a multisig type")


def build_multisig(
    network: Network,
    threshold: int,
    cosigners: Sequence[CosignerSpec],
    script_type: ScriptType | None = None,
) -> tuple[WalletDescriptor, list[Cosigner]]:
    """Validate the cosigners and return the ``sortedmulti`` wallet descriptor and cosigner list."""
    n = len(cosigners)
    if n < 1:
        raise BadInput("A multisig wallet needs at least one cosigner.", field="cosigners")
    if n > MAX_MULTISIG_KEYS:
        raise BadInput(
            f"{n} cosigners: at most 20 keys in a P2WSH multisig (consensus MAX_PUBKEYS_PER_MULTISIG).",
            field="cosigners",
        )
    if not 1 <= threshold <= n:
        raise BadInput(
            f"The threshold must be between 1 and the number of cosigners ({n}); got {threshold}.",
            field="threshold",
        )
    if script_type is not None and script_type not in MULTISIG_TYPES:
        raise BadInput(
            f"{script_type.value} is not a multisig script type: use P2WSH, P2SH_P2WSH or P2SH.",
            field="scriptType",
        )
    if script_type is ScriptType.P2SH and n > MAX_P2SH_MULTISIG_KEYS:
        raise BadInput(
            f"{n} cosigners: at most 15 keys in a P2SH multisig (the 520-byte redeem script limit).",
            field="cosigners",
            hint="Use P2WSH (up to 20 keys).",
        )

    parsed = [parse_extended_key(c.xpub, network, field=f"cosigners.{i}.xpub") for i, c in enumerate(cosigners)]
    for i, p in enumerate(parsed):
        if p.implied_script_type is not None and not p.slip132_multisig:
            raise BadInput(
                f"Cosigner {i + 1}'s key is a single-signature {p.prefix}; a multisig wallet "
                f"needs each "
                "cosigner's multisig key.",
                field=f"cosigners.{i}.xpub",
                hint=("Export the multisig key (Zpub/Ypub, or xpub at m/48'/0'/0'/2') from each signing device."),
            )
    implied = {p.implied_script_type for p in parsed if p.implied_script_type is not None}
    if script_type is None:
        script_type = implied.pop() if len(implied) == 1 else ScriptType.P2WSH
    for i, p in enumerate(parsed):
        if p.implied_script_type is not None and p.implied_script_type != script_type:
            raise BadInput(
                f"Cosigner {i + 1}'s key is a {p.prefix} ({p.implied_script_type.value}) but the "
                f"wallet is "
                f"{script_type.value}.",
                field=f"cosigners.{i}.xpub",
            )

    seen: dict[tuple[bytes, bytes], int] = {}
    keys: list[KeyExpression] = []
    result: list[Cosigner] = []
    for i, (spec, p) in enumerate(zip(cosigners, parsed, strict=True)):
        identity = (p.xpub.pubkey, p.xpub.chain_code)
        if identity in seen:
            raise BadInput(
                f"Cosigner {i + 1} has the same key as cosigner {seen[identity] + 1}: every "
                f"cosigner needs "
                "its own key.",
                field=f"cosigners.{i}.xpub",
            )
        seen[identity] = i
        origin = _origin(i, spec, p.origin, p.xpub.depth, p.xpub.fingerprint, script_type, network)
        keys.append(KeyExpression(p.xpub, origin))
        result.append(
            Cosigner(
                name=(spec.name or "").strip() or f"Cosigner {i + 1}",
                xpub=p.xpub.to_base58(),
                fingerprint=origin.fingerprint.hex(),
                derivation_path=format_path(origin.path),
            )
        )
    return WalletDescriptor(network, script_type, tuple(keys), threshold, True), result


def _origin(
    i: int,
    spec: CosignerSpec,
    embedded: KeyOrigin | None,
    depth: int,
    own_fingerprint: bytes,
    script_type: ScriptType,
    network: Network,
) -> KeyOrigin:
    fp_field, path_field = f"cosigners.{i}.fingerprint", f"cosigners.{i}.derivationPath"
    fingerprint = parse_fingerprint(spec.fingerprint, field=fp_field) if spec.fingerprint else None
    path = parse_path(spec.derivation_path, field=path_field) if spec.derivation_path else None
    if embedded is not None:
        if fingerprint is not None and fingerprint != embedded.fingerprint:
            raise BadInput(
                f"Cosigner {i + 1}: fingerprint {fingerprint.hex()} differs from the key origin "
                f"{embedded.fingerprint.hex()} in the key.",
                field=fp_field,
            )
        if path is not None and path != embedded.path:
            raise BadInput(
                f"Cosigner {i + 1}: derivationPath differs from the key origin in the key.",
                field=path_field,
            )
        fingerprint, path = embedded.fingerprint, embedded.path
    if depth == 0:
        fingerprint = fingerprint or own_fingerprint
        path = path if path is not None else ()
    if fingerprint is None:
        raise BadInput(
            f"Cosigner {i + 1} needs the master key fingerprint (8 hex characters) so signing "
            f"devices "
            "recognise their key.",
            field=fp_field,
            hint=(
                "Your signing device shows it next to the exported key (e.g. in the [d34db33f/48h/0h/0h/2h] origin)."
            ),
        )
    if path is None:
        path = default_multisig_path(script_type, network)
        if len(path) != depth:
            raise BadInput(
                f"Cosigner {i + 1}'s key is at depth {depth}, not at the default path "
                f"{format_path(path)}: "
                "give its derivationPath.",
                field=path_field,
            )
    if len(path) != depth:
        raise BadInput(
            f"Cosigner {i + 1}'s derivationPath {format_path(path)} has {len(path)} steps but the "
            f"key is at "
            f"depth {depth}.",
            field=path_field,
        )
    return KeyOrigin(fingerprint, path)
