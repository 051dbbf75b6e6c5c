"""The ledger: hash-chained audit entries, signing keys, canonical JSON, verifiable credentials (public API)."""

from mingyue.core.ledger.audit import (
    GENESIS as GENESIS,
)
from mingyue.core.ledger.audit import (
    AuditCheckpoint as AuditCheckpoint,
)
from mingyue.core.ledger.audit import (
    AuditEntry as AuditEntry,
)
from mingyue.core.ledger.audit import (
    VerifyReport as VerifyReport,
)
from mingyue.core.ledger.audit import (
    append_only_ddl as append_only_ddl,
)
from mingyue.core.ledger.audit import (
    append_pending as append_pending,
)
from mingyue.core.ledger.audit import (
    canonical as canonical,
)
from mingyue.core.ledger.audit import (
    check_proof as check_proof,
)
from mingyue.core.ledger.audit import (
    checkpoint_if_due as checkpoint_if_due,
)
from mingyue.core.ledger.audit import (
    compute_entry_hash as compute_entry_hash,
)
from mingyue.core.ledger.audit import (
    entries_since as entries_since,
)
from mingyue.core.ledger.audit import (
    entry_fields as entry_fields,
)
from mingyue.core.ledger.audit import (
    events as events,
)
from mingyue.core.ledger.audit import (
    inclusion_path as inclusion_path,
)
from mingyue.core.ledger.audit import (
    known_event as known_event,
)
from mingyue.core.ledger.audit import (
    leaf_hash as leaf_hash,
)
from mingyue.core.ledger.audit import (
    make_checkpoint as make_checkpoint,
)
from mingyue.core.ledger.audit import (
    merkle_root as merkle_root,
)
from mingyue.core.ledger.audit import (
    prove as prove,
)
from mingyue.core.ledger.audit import (
    register_event as register_event,
)
from mingyue.core.ledger.audit import (
    root_from_path as root_from_path,
)
from mingyue.core.ledger.audit import (
    seal_head as seal_head,
)
from mingyue.core.ledger.audit import (
    sha256_hex as sha256_hex,
)
from mingyue.core.ledger.audit import (
    verify_chain as verify_chain,
)
from mingyue.core.ledger.keys import (
    SecretUnreadable as SecretUnreadable,
)
from mingyue.core.ledger.keys import (
    key_id as key_id,
)
from mingyue.core.ledger.keys import (
    key_path as key_path,
)
from mingyue.core.ledger.keys import (
    load_public as load_public,
)
from mingyue.core.ledger.keys import (
    public_key_b64 as public_key_b64,
)
from mingyue.core.ledger.keys import (
    read_public_key_arg as read_public_key_arg,
)
from mingyue.core.ledger.keys import (
    seal as seal,
)
from mingyue.core.ledger.keys import (
    signing_key as signing_key,
)
from mingyue.core.ledger.keys import (
    unseal as unseal,
)
