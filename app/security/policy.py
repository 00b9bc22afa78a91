"""Who may run which root operation: roles (admin, user, viewer) and API-key scopes.

One table for the whole API, checked once per operation before anything executes (by the
GraphQL layer's authorization extension and the report download route). It fails closed: an
operation missing from :data:`KEY_SCOPES` is refused to every API key, and a mutation missing
from :data:`VIEWER_MUTATIONS` is refused to the read-only ``viewer`` role. Admin-only operations
are checked again by the services that implement them.
"""

from __future__ import annotations

from collections.abc import Iterable

SCOPES = ("wallets:read", "wallets:write", "lightning:read", "lightning:write", "reports")
_W_R, _W_W, _L_R, _L_W, _REP = SCOPES
ANY_KEY = ""  # any valid API key may run it (public or identity data)

# (operation type, root field) -> the scope an API key needs.
KEY_SCOPES: dict[tuple[str, str], str] = {
    ("query", "viewer"): ANY_KEY,
    ("query", "price"): ANY_KEY,
    ("query", "priceHistory"): ANY_KEY,
    ("query", "wallets"): _W_R,
    ("query", "wallet"): _W_R,
    ("query", "syncJob"): _W_R,
    ("query", "portfolios"): _W_R,
    ("query", "portfolio"): _W_R,
    ("query", "lightningNodes"): _L_R,
    ("query", "lightningNode"): _L_R,
    ("query", "reports"): _REP,
    ("query", "report"): _REP,
    ("mutation", "importWallet"): _W_W,
    ("mutation", "createMultisigWallet"): _W_W,
    ("mutation", "renameWallet"): _W_W,
    ("mutation", "deleteWallet"): _W_W,
    ("mutation", "nextReceiveAddress"): _W_W,
    ("mutation", "setLabel"): _W_W,
    ("mutation", "importLabels"): _W_W,
    ("mutation", "importLabelFile"): _W_W,
    ("mutation", "setOutputSpendable"): _W_W,
    ("query", "feeEstimates"): ANY_KEY,
    ("query", "analyzePsbt"): _W_R,
    ("query", "psbtQrParts"): _W_R,
    ("query", "psbtFromQr"): _W_R,
    ("mutation", "createPsbt"): _W_W,
    ("mutation", "combinePsbt"): _W_W,
    ("mutation", "finalizePsbt"): _W_W,
    ("mutation", "broadcastTransaction"): _W_W,
    ("mutation", "bumpFee"): _W_W,
    ("mutation", "cpfp"): _W_W,
    ("mutation", "exportLabels"): _W_R,
    ("mutation", "syncWallet"): _W_W,
    ("mutation", "createPortfolio"): _W_W,
    ("mutation", "updatePortfolio"): _W_W,
    ("mutation", "deletePortfolio"): _W_W,
    ("mutation", "setTransactionCost"): _W_W,
    ("mutation", "connectLightningNode"): _L_W,
    ("mutation", "disconnectLightningNode"): _L_W,
    ("mutation", "connectLightningPeer"): _L_W,
    ("mutation", "openChannel"): _L_W,
    ("mutation", "closeChannel"): _L_W,
    ("mutation", "updateChannelPolicy"): _L_W,
    ("mutation", "createInvoice"): _L_W,
    ("query", "decodeInvoice"): _L_R,
    ("query", "channelBackup"): _L_R,
    ("mutation", "verifyChannelBackup"): _L_R,
    ("mutation", "payInvoice"): _L_W,
    ("mutation", "keysend"): _L_W,
    ("mutation", "bakeMacaroon"): _L_W,
    ("subscription", "paymentUpdated"): _L_R,
    ("subscription", "channelBackupUpdated"): _L_R,
    ("mutation", "generateReport"): _REP,
    ("subscription", "priceUpdated"): ANY_KEY,
    ("subscription", "feeEstimatesUpdated"): ANY_KEY,
    ("subscription", "walletUpdated"): _W_R,
    ("subscription", "transactionReceived"): _W_R,
    ("subscription", "walletSyncProgress"): _W_R,
    ("subscription", "portfolioValueChanged"): _W_R,
    ("subscription", "channelEvents"): _L_R,
    ("subscription", "invoiceUpdated"): _L_R,
}
# Account management (sessions, keys, 2FA, password, audit log, users) is deliberately absent: an API key
# can never run it, whatever its scopes.
# ``events`` streams every kind of the user's events: it needs all read scopes.
MULTI_SCOPE: dict[tuple[str, str], tuple[str, ...]] = {("subscription", "events"): (_W_R, _L_R, _REP)}
REPORT_DOWNLOAD = _REP
PSBT_DOWNLOAD = _W_R

# Mutations the read-only ``viewer`` role may run: its own account, and reads shaped as mutations.
VIEWER_MUTATIONS = frozenset(
    {
        "login",
        "register",
        "logout",
        "changePassword",
        "beginTwoFactorSetup",
        "confirmTwoFactor",
        "disableTwoFactor",
        "regenerateRecoveryCodes",
        "revokeSession",
        "revokeOtherSessions",
        "createApiKey",
        "revokeApiKey",
        "exportLabels",
        "generateReport",
        "verifyChannelBackup",
    }
)


def normalize_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Validated scopes; raises ValueError naming the first unknown one."""
    result = frozenset(s.strip() for s in scopes)
    for scope in sorted(result):
        if scope not in SCOPES:
            raise ValueError(scope)
    return result


def refusal(operation: str, fields: Iterable[str], *, role: str | None, scopes: frozenset[str] | None) -> str | None:
    """Why ``role``/``scopes`` may not run these root fields of one operation, or None when allowed.

    ``role`` None means anonymous (each resolver decides then); ``scopes`` None means a session.
    """
    for name in fields:
        if name == "__typename":
            continue
        if role == "viewer" and operation == "mutation" and name not in VIEWER_MUTATIONS:
            return f"Your role is read-only: {name} is not allowed."
        if scopes is not None:
            needed = MULTI_SCOPE.get((operation, name))
            if needed is None:
                one = KEY_SCOPES.get((operation, name))
                if one is None:
                    return f"API keys cannot run {name}: sign in instead."
                needed = (one,) if one else ()
            missing = [s for s in needed if s not in scopes]
            if missing:
                return f"This API key lacks the scope {missing[0]} needed for {name}."
    return None
