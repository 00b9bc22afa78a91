"""A Bitcoin script interpreter for the scripts wallets spend: P2WSH (witness v0), tapscript
(BIP-342) leaves, legacy P2SH redeem scripts and bare scripts, with the consensus rules and the
standardness rules Bitcoin Core's mempool applies to them (MINIMALIF for witness scripts, NULLFAIL,
NULLDUMMY, clean stack, compressed keys in v0, push-only scriptSigs).

It exists so that the dev chain's mempool can verify what the server finalizes for miniscript and
taproot script-path wallets (a test that a node would accept the transaction), without a node.
Only the opcodes miniscript and multisig use are implemented; any other opcode fails the script
(disabled and OP_SUCCESS opcodes included: they make a script non-standard anyway).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from embit import ec, hashes
from embit.script import Script
from embit.transaction import SIGHASH, Transaction
from embit.util import secp256k1

MAX_SCRIPT_ELEMENT = 520
LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_DISABLE = 1 << 31
SEQUENCE_TYPE = 1 << 22
SEQUENCE_MASK = 0x0000FFFF
TAPSCRIPT_LEAF = 0xC0


class ScriptFailure(Exception):
    """The script does not succeed; the message says why (for test failures and logs)."""


@dataclass(frozen=True, slots=True)
class SpendContext:
    """What signatures and time locks commit to: the spending transaction and every spent output."""

    tx: Transaction
    index: int
    spent_scripts: Sequence[bytes]
    spent_values: Sequence[int]

    @property
    def value(self) -> int:
        return self.spent_values[self.index]


def _num(b: bytes, max_len: int = 4) -> int:
    if len(b) > max_len:
        raise ScriptFailure("number overflow")
    if not b:
        return 0
    if b[-1] & 0x7F == 0 and (len(b) == 1 or b[-2] & 0x80 == 0):
        raise ScriptFailure("non-minimal number")
    n = int.from_bytes(b, "little")
    if b[-1] & 0x80:
        return -(n & ~(0x80 << (8 * (len(b) - 1))))
    return n


def _enc(n: int) -> bytes:
    if n == 0:
        return b""
    neg, a = n < 0, abs(n)
    out = bytearray()
    while a:
        out.append(a & 0xFF)
        a >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if neg else 0)
    elif neg:
        out[-1] |= 0x80
    return bytes(out)


def _true(b: bytes) -> bool:
    for i, c in enumerate(b):
        if c:
            return not (i == len(b) - 1 and c == 0x80)
    return False


def _ops(script: bytes) -> list[tuple[int, bytes | None]]:
    """(opcode, pushed data or None) for every operation; a truncated push fails."""
    out: list[tuple[int, bytes | None]] = []
    i = 0
    while i < len(script):
        op = script[i]
        i += 1
        if op <= 0x4E:
            if op < 0x4C:
                n = op
            else:
                width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
                if i + width > len(script):
                    raise ScriptFailure("truncated push")
                n = int.from_bytes(script[i : i + width], "little")
                i += width
            if i + n > len(script):
                raise ScriptFailure("truncated push")
            out.append((op, script[i : i + n]))
            i += n
        else:
            out.append((op, None))
    return out


def _tap_tweak_matches(program: bytes, control: bytes, leaf_hash: bytes) -> bool:
    internal = control[1:33]
    h = leaf_hash
    path = control[33:]
    for j in range(0, len(path), 32):
        node = path[j : j + 32]
        h = hashes.tagged_hash("TapBranch", min(h, node) + max(h, node))
    tweak = hashes.tagged_hash("TapTweak", internal + h)
    point = secp256k1.ec_pubkey_parse(b"\x02" + internal)
    q = secp256k1.ec_pubkey_serialize(secp256k1.ec_pubkey_add(point, tweak))
    return q[1:] == program and (q[0] & 1) == (control[0] & 1)


def verify_p2wsh(witness: Sequence[bytes], program: bytes, ctx: SpendContext) -> None:
    """A witness v0 script-hash spend: the last item is the script, the rest its initial stack."""
    if not witness:
        raise ScriptFailure("empty witness")
    script = witness[-1]
    if hashlib.sha256(script).digest() != program:
        raise ScriptFailure("witness script does not match the program")
    _run(script, list(witness[:-1]), ctx, tapscript=False, leaf_hash=b"")


def script_sig_stack(script_sig: bytes) -> list[bytes]:
    """The stack a scriptSig leaves: it must be push-only (Core's SIGPUSHONLY policy for P2SH and
    standard inputs); OP_0, OP_1..OP_16 and OP_1NEGATE push their numbers."""
    stack: list[bytes] = []
    for op, data in _ops(script_sig):
        if data is not None:
            stack.append(data)
        elif 0x51 <= op <= 0x60:
            stack.append(_enc(op - 0x50))
        elif op == 0x4F:
            stack.append(_enc(-1))
        else:
            raise ScriptFailure("scriptSig is not push-only")
    return stack


def verify_p2sh(script_sig: bytes, program: bytes, ctx: SpendContext) -> None:
    """A legacy P2SH spend (no witness): the scriptSig's last push is the redeem script, whose
    HASH160 is ``program``; the pushes before it are its initial stack (legacy sighash)."""
    stack = script_sig_stack(script_sig)
    if not stack:
        raise ScriptFailure("empty scriptSig")
    redeem = stack.pop()
    if hashlib.new("ripemd160", hashlib.sha256(redeem).digest()).digest() != program:
        raise ScriptFailure("redeem script does not match the P2SH hash")
    _run(redeem, stack, ctx, tapscript=False, leaf_hash=b"", legacy=True)


def verify_bare(script_sig: bytes, script_pubkey: bytes, ctx: SpendContext) -> None:
    """A bare script (``pk()``, ``multi()``): the scriptSig's pushes run against the scriptPubKey."""
    _run(script_pubkey, script_sig_stack(script_sig), ctx, tapscript=False, leaf_hash=b"", legacy=True)


def verify_taproot_script_path(witness: Sequence[bytes], program: bytes, ctx: SpendContext) -> None:
    """A BIP-341 script-path spend: ..., script, control block (no annex: non-standard)."""
    if len(witness) < 2:
        raise ScriptFailure("not a script-path witness")
    if witness[-1][:1] == b"\x50":
        raise ScriptFailure("annex present (non-standard)")
    control, script = witness[-1], witness[-2]
    if len(control) < 33 or (len(control) - 33) % 32 or len(control) > 33 + 32 * 128:
        raise ScriptFailure("bad control block size")
    if control[0] & 0xFE != TAPSCRIPT_LEAF:
        raise ScriptFailure("unknown leaf version (non-standard)")
    leaf_hash = hashes.tagged_hash("TapLeaf", bytes([TAPSCRIPT_LEAF]) + Script(script).serialize())
    if not _tap_tweak_matches(program, control, leaf_hash):
        raise ScriptFailure("the control block does not commit to this script")
    _run(script, list(witness[:-2]), ctx, tapscript=True, leaf_hash=leaf_hash)


def _check_sig(
    sig: bytes, pub: bytes, script: bytes, ctx: SpendContext, tapscript: bool, leaf_hash: bytes, legacy: bool = False
) -> bool:
    if not sig:
        return False
    ok = False
    if tapscript:
        if len(pub) != 32:
            raise ScriptFailure("public key of unknown type (non-standard)")
        if len(sig) not in (64, 65) or (len(sig) == 65 and sig[64] == SIGHASH.DEFAULT):
            raise ScriptFailure("bad schnorr signature size")
        sighash = sig[64] if len(sig) == 65 else SIGHASH.DEFAULT
        h = ctx.tx.sighash_taproot(
            ctx.index,
            [Script(s) for s in ctx.spent_scripts],
            list(ctx.spent_values),
            sighash,
            ext_flag=1,
            script=Script(script),
            leaf_version=TAPSCRIPT_LEAF,
        )
        try:
            ok = ec.PublicKey.from_xonly(pub).schnorr_verify(ec.SchnorrSig.parse(sig[:64]), h)
        except Exception:
            ok = False
        if not ok:
            raise ScriptFailure("schnorr signature does not verify")  # BIP-342: a non-empty invalid sig fails
        return True
    if legacy:
        if not ((len(pub) == 33 and pub[0] in (2, 3)) or (len(pub) == 65 and pub[0] == 4)):
            raise ScriptFailure("public key of unknown type (STRICTENC)")
    elif len(pub) != 33 or pub[0] not in (2, 3):
        raise ScriptFailure("witness v0 public keys must be compressed")
    try:
        if legacy:  # the signature is not in the script, so FindAndDelete has nothing to remove
            h = ctx.tx.sighash_legacy(ctx.index, Script(script), sig[-1])
        else:
            h = ctx.tx.sighash_segwit(ctx.index, Script(script), ctx.value, sig[-1])
        ok = ec.PublicKey.parse(pub).verify(ec.Signature.parse(sig[:-1]), h)
    except Exception:
        ok = False
    if not ok:
        raise ScriptFailure("signature does not verify (NULLFAIL)")
    return True


def _run(
    script: bytes, stack: list[bytes], ctx: SpendContext, *, tapscript: bool, leaf_hash: bytes, legacy: bool = False
) -> None:
    for item in stack:
        if len(item) > MAX_SCRIPT_ELEMENT:
            raise ScriptFailure("stack item over 520 bytes")
    alt: list[bytes] = []
    exec_stack: list[bool] = []
    ops = _ops(script)
    if not tapscript and len(script) > (MAX_SCRIPT_ELEMENT if legacy else 3600):
        raise ScriptFailure("redeem script over 520 bytes" if legacy else "witness script too large")

    def pop() -> bytes:
        if not stack:
            raise ScriptFailure("stack underflow")
        return stack.pop()

    def popnum(max_len: int = 4) -> int:
        return _num(pop(), max_len)

    for op, data in ops:
        executing = all(exec_stack)
        if op in (0x63, 0x64):  # IF / NOTIF
            value = False
            if executing:
                cond = pop()
                if not legacy and cond not in (b"", b"\x01"):  # MINIMALIF: witness scripts only
                    raise ScriptFailure("MINIMALIF: the IF argument must be empty or 1")
                value = _true(cond)
                if op == 0x64:
                    value = not value
            exec_stack.append(value)
            continue
        if op == 0x67:  # ELSE
            if not exec_stack:
                raise ScriptFailure("ELSE without IF")
            exec_stack[-1] = not exec_stack[-1]
            continue
        if op == 0x68:  # ENDIF
            if not exec_stack:
                raise ScriptFailure("ENDIF without IF")
            exec_stack.pop()
            continue
        if not executing:
            continue
        if data is not None:
            stack.append(data)
        elif op == 0x4F:
            stack.append(_enc(-1))
        elif 0x51 <= op <= 0x60:
            stack.append(_enc(op - 0x50))
        elif op == 0x69:  # VERIFY
            if not _true(pop()):
                raise ScriptFailure("VERIFY failed")
        elif op == 0x6B:
            alt.append(pop())
        elif op == 0x6C:
            if not alt:
                raise ScriptFailure("altstack underflow")
            stack.append(alt.pop())
        elif op == 0x73:  # IFDUP
            top = pop()
            stack.append(top)
            if _true(top):
                stack.append(top)
        elif op == 0x74:
            stack.append(_enc(len(stack)))
        elif op == 0x75:
            pop()
        elif op == 0x76:
            top = pop()
            stack += [top, top]
        elif op == 0x77:  # NIP
            top = pop()
            pop()
            stack.append(top)
        elif op == 0x78:  # OVER
            if len(stack) < 2:
                raise ScriptFailure("stack underflow")
            stack.append(stack[-2])
        elif op in (0x79, 0x7A):  # PICK / ROLL
            n = popnum()
            if n < 0 or n >= len(stack):
                raise ScriptFailure("PICK/ROLL out of range")
            item = stack[-1 - n]
            if op == 0x7A:
                del stack[-1 - n]
            stack.append(item)
        elif op == 0x7B:  # ROT
            if len(stack) < 3:
                raise ScriptFailure("stack underflow")
            stack.append(stack.pop(-3))
        elif op == 0x7C:  # SWAP
            if len(stack) < 2:
                raise ScriptFailure("stack underflow")
            stack[-1], stack[-2] = stack[-2], stack[-1]
        elif op == 0x7D:  # TUCK
            top, second = pop(), pop()
            stack += [top, second, top]
        elif op == 0x6D:  # 2DROP
            pop()
            pop()
        elif op == 0x6E:  # 2DUP
            if len(stack) < 2:
                raise ScriptFailure("stack underflow")
            stack += stack[-2:]
        elif op == 0x82:  # SIZE
            if not stack:
                raise ScriptFailure("stack underflow")
            stack.append(_enc(len(stack[-1])))
        elif op in (0x87, 0x88):  # EQUAL(VERIFY)
            eq = pop() == pop()
            if op == 0x88:
                if not eq:
                    raise ScriptFailure("EQUALVERIFY failed")
            else:
                stack.append(b"\x01" if eq else b"")
        elif op in (0x8B, 0x8C, 0x8F, 0x90, 0x91, 0x92):  # 1ADD 1SUB NEGATE ABS NOT 0NOTEQUAL
            a = popnum()
            r = {0x8B: a + 1, 0x8C: a - 1, 0x8F: -a, 0x90: abs(a), 0x91: int(a == 0), 0x92: int(a != 0)}[op]
            stack.append(_enc(r))
        elif 0x93 <= op <= 0xA4 and op not in (0x95, 0x96, 0x97, 0x98, 0x99):
            b, a = popnum(), popnum()
            r = {
                0x93: a + b,
                0x94: a - b,
                0x9A: int(a != 0 and b != 0),
                0x9B: int(a != 0 or b != 0),
                0x9C: int(a == b),
                0x9D: int(a == b),
                0x9E: int(a != b),
                0x9F: int(a < b),
                0xA0: int(a > b),
                0xA1: int(a <= b),
                0xA2: int(a >= b),
                0xA3: min(a, b),
                0xA4: max(a, b),
            }[op]
            if op == 0x9D:
                if not r:
                    raise ScriptFailure("NUMEQUALVERIFY failed")
            else:
                stack.append(_enc(r))
        elif op == 0xA5:  # WITHIN
            mx, mn, x = popnum(), popnum(), popnum()
            stack.append(_enc(int(mn <= x < mx)))
        elif op == 0xA6:
            stack.append(hashlib.new("ripemd160", pop()).digest())
        elif op == 0xA8:
            stack.append(hashlib.sha256(pop()).digest())
        elif op == 0xA9:
            stack.append(hashlib.new("ripemd160", hashlib.sha256(pop()).digest()).digest())
        elif op == 0xAA:
            stack.append(hashlib.sha256(hashlib.sha256(pop()).digest()).digest())
        elif op in (0xAC, 0xAD):  # CHECKSIG(VERIFY)
            pub, sig = pop(), pop()
            ok = _check_sig(sig, pub, script, ctx, tapscript, leaf_hash, legacy)
            if op == 0xAD:
                if not ok:
                    raise ScriptFailure("CHECKSIGVERIFY failed")
            else:
                stack.append(b"\x01" if ok else b"")
        elif op == 0xBA and tapscript:  # CHECKSIGADD
            pub, n, sig = pop(), _num(pop()), pop()
            ok = _check_sig(sig, pub, script, ctx, tapscript, leaf_hash)
            stack.append(_enc(n + int(ok)))
        elif op in (0xAE, 0xAF) and not tapscript:  # CHECKMULTISIG(VERIFY)
            n = popnum()
            if not 0 <= n <= 20:
                raise ScriptFailure("bad key count")
            pubs = [pop() for _ in range(n)]
            m = popnum()
            if not 0 <= m <= n:
                raise ScriptFailure("bad signature count")
            sigs = [pop() for _ in range(m)]
            if pop() != b"":
                raise ScriptFailure("NULLDUMMY: the CHECKMULTISIG dummy must be empty")
            k = 0
            ok = True
            for sig in sigs:
                while k < len(pubs):
                    try:
                        good = _check_sig(sig, pubs[k], script, ctx, False, b"", legacy)
                    except ScriptFailure:
                        good = False
                    k += 1
                    if good:
                        break
                else:
                    ok = False
                    break
            if not ok and any(sigs):
                raise ScriptFailure("CHECKMULTISIG failed with non-empty signatures (NULLFAIL)")
            if op == 0xAF:
                if not ok:
                    raise ScriptFailure("CHECKMULTISIGVERIFY failed")
            else:
                stack.append(b"\x01" if ok else b"")
        elif op == 0xB1:  # CHECKLOCKTIMEVERIFY
            if not stack:
                raise ScriptFailure("stack underflow")
            lock = _num(stack[-1], 5)
            tx_lock = ctx.tx.locktime
            if lock < 0 or (lock < LOCKTIME_THRESHOLD) != (tx_lock < LOCKTIME_THRESHOLD) or lock > tx_lock:
                raise ScriptFailure("CHECKLOCKTIMEVERIFY: the transaction's lock time is too early")
            if ctx.tx.vin[ctx.index].sequence == 0xFFFFFFFF:
                raise ScriptFailure("CHECKLOCKTIMEVERIFY: the input is final")
        elif op == 0xB2:  # CHECKSEQUENCEVERIFY
            if not stack:
                raise ScriptFailure("stack underflow")
            seq = _num(stack[-1], 5)
            if seq < 0:
                raise ScriptFailure("negative CHECKSEQUENCEVERIFY")
            if not seq & SEQUENCE_DISABLE:
                tx_seq = ctx.tx.vin[ctx.index].sequence
                if ctx.tx.version < 2 or tx_seq & SEQUENCE_DISABLE:
                    raise ScriptFailure("CHECKSEQUENCEVERIFY: relative lock time disabled on the input")
                if (seq & SEQUENCE_TYPE) != (tx_seq & SEQUENCE_TYPE):
                    raise ScriptFailure("CHECKSEQUENCEVERIFY: lock time kinds differ")
                if (seq & SEQUENCE_MASK) > (tx_seq & SEQUENCE_MASK):
                    raise ScriptFailure("CHECKSEQUENCEVERIFY: the input's sequence is too low")
        elif op in (0x61, 0xB0, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9):  # NOP, NOP1, NOP4-10
            if op != 0x61:
                raise ScriptFailure("upgradable NOP (non-standard)")
        else:
            raise ScriptFailure(f"opcode 0x{op:02x} is not supported")
        if len(stack) + len(alt) > 1000:
            raise ScriptFailure("stack size limit")
    if exec_stack:
        raise ScriptFailure("unbalanced IF")
    if len(stack) != 1 or not _true(stack[0]):
        raise ScriptFailure("the script did not leave exactly one true element (clean stack)")
