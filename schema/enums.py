"""Every enum the schema shares between areas, and every status, state, phase or kind: one module,
so that type modules import enums from here and never from each other (``schema/types/sync.py``
and ``schema/types/wallets.py`` used to import each other for them).

Where a service has a ``StrEnum`` for the concept, the GraphQL enum is that class (one name per
concept: ``Network``, ``ScriptType``, ``AddressChain``, ``SyncPhase``, ``SyncJobKind``,
``NodeLinkState``, ``DisposalKind``, ``CostBasisEntryKind``); the others are defined here. Value
descriptions of the service enums are in ``schema/descriptions.py`` (``VALUES``).
"""

from __future__ import annotations

from enum import Enum

import strawberry

from app.analytics.costbasis import DisposalKind, EntryKind
from app.bitcoin.descriptors import Chain
from app.bitcoin.networks import Network
from app.bitcoin.scripts import ScriptType
from app.lightning.streams import LinkState
from app.sync.model import JobKind, Phase

# -- wallets ---------------------------------------------------------------------------------

NetworkEnum = strawberry.enum(Network, name="Network", description="Bitcoin network of a wallet.")
ScriptTypeEnum = strawberry.enum(
    ScriptType,
    name="ScriptType",
    description=(
        "Output type: P2PKH, P2SH_P2WPKH, P2WPKH, P2TR (key or script path); P2SH, P2SH_P2WSH, P2WSH (multisig "
        "or miniscript); BARE (pk(), bare multisig, raw()); MIXED (keychains of several types, e.g. combo())."
    ),
)
AddressChainEnum = strawberry.enum(Chain, name="AddressChain", description="RECEIVE (0) or CHANGE (1).")


@strawberry.enum(description="Single-signature or multisig wallet.")
class WalletKind(Enum):
    SINGLE = "SINGLE"
    MULTISIG = "MULTISIG"


@strawberry.enum(description="Where the wallet's chain data stands.")
class SyncStatus(Enum):
    PENDING = "PENDING"  # imported, never synced yet
    SYNCING = "SYNCING"
    SYNCED = "SYNCED"
    ERROR = "ERROR"  # the last sync failed; see syncError


def sync_status_of(value: str | None) -> SyncStatus:
    if value in ("SYNCING", "SYNCED", "ERROR"):
        return SyncStatus(value)
    return SyncStatus.PENDING  # "NEVER", "PENDING", unknown


# -- chain sync ------------------------------------------------------------------------------


@strawberry.enum(description="A transaction from the wallet's view.")
class TxDirection(Enum):
    INCOMING = "INCOMING"
    OUTGOING = "OUTGOING"
    SELF = "SELF"


@strawberry.enum(description="Where a transaction stands. Only CONFIRMED and MEMPOOL count in balances.")
class TxStatus(Enum):
    CONFIRMED = "confirmed"
    MEMPOOL = "mempool"
    REPLACED = "replaced"  # a conflicting transaction (RBF) took its place; see replacedBy
    EVICTED = "evicted"  # dropped from the mempool or reorged out with no replacement seen


@strawberry.enum(description="State of a sync job.")
class SyncJobStatus(Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


SyncPhaseEnum = strawberry.enum(
    Phase, name="SyncPhase", description="The step a wallet's sync is at (or ended with: DONE or FAILED)."
)
SyncJobKindEnum = strawberry.enum(JobKind, name="SyncJobKind", description="Why a sync job runs and how far it looks.")


def sync_phase_of(value: str | None) -> Phase | None:
    """The phase a stored or published string names (None: not started, or a name this version
    does not know)."""
    try:
        return None if value is None else Phase(value)
    except ValueError:
        return None


def sync_job_kind_of(value: str) -> JobKind:
    try:
        return JobKind(value)
    except ValueError:
        return JobKind.INCREMENTAL


# -- Lightning -------------------------------------------------------------------------------

NodeLinkState = strawberry.enum(
    LinkState, name="NodeLinkState", description="State of the server's live link to a Lightning node."
)


def link_state_of(value: str | None) -> LinkState:
    try:
        return LinkState(value or "idle")
    except ValueError:
        return LinkState.DOWN


@strawberry.enum  # described in schema/descriptions.py
class ChannelCloseType(Enum):
    COOPERATIVE_CLOSE = "COOPERATIVE_CLOSE"
    LOCAL_FORCE_CLOSE = "LOCAL_FORCE_CLOSE"
    REMOTE_FORCE_CLOSE = "REMOTE_FORCE_CLOSE"
    BREACH_CLOSE = "BREACH_CLOSE"
    FUNDING_CANCELED = "FUNDING_CANCELED"
    ABANDONED = "ABANDONED"


@strawberry.enum  # described in schema/descriptions.py
class PendingChannelKind(Enum):
    OPENING = "OPENING"
    CLOSING = "CLOSING"
    FORCE_CLOSING = "FORCE_CLOSING"


@strawberry.enum  # described in schema/descriptions.py
class InvoiceState(Enum):
    OPEN = "OPEN"
    SETTLED = "SETTLED"
    CANCELED = "CANCELED"
    ACCEPTED = "ACCEPTED"


@strawberry.enum  # described in schema/descriptions.py
class PaymentStatus(Enum):
    UNKNOWN = "UNKNOWN"
    IN_FLIGHT = "IN_FLIGHT"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    INITIATED = "INITIATED"


# -- portfolios and reports ------------------------------------------------------------------


@strawberry.enum(description="State of a report job.")
class ReportStatus(Enum):
    QUEUED = strawberry.enum_value("QUEUED", description="Waiting for a worker.")
    RUNNING = strawberry.enum_value("RUNNING", description="Being generated; see `progress`.")
    SUCCEEDED = strawberry.enum_value("SUCCEEDED", description="Done: download it from `downloadUrl`.")
    FAILED = strawberry.enum_value("FAILED", description="Gave up; see `error`.")


DisposalKindEnum = strawberry.enum(
    DisposalKind, name="DisposalKind", description="What a disposal row disposes of: coins spent, or a fee."
)
CostBasisEntryKind = strawberry.enum(
    EntryKind,
    name="CostBasisEntryKind",
    description="How a transaction counts for cost basis: coins in, coins out, a move between the portfolio's "
    "wallets, or a move to the user's wallets outside it.",
)
