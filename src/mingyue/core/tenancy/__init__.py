"""Identity and tenancy: actors, permissions, organizations, users, scoped look-ups (public API)."""

from mingyue.core.tenancy.access import (
    OVERSIGHT_ROLES as OVERSIGHT_ROLES,
)
from mingyue.core.tenancy.access import (
    SYSTEM as SYSTEM,
)
from mingyue.core.tenancy.access import (
    Actor as Actor,
)
from mingyue.core.tenancy.access import (
    PermissionSpec as PermissionSpec,
)
from mingyue.core.tenancy.access import (
    can as can,
)
from mingyue.core.tenancy.access import (
    check as check,
)
from mingyue.core.tenancy.access import (
    permissions as permissions,
)
from mingyue.core.tenancy.access import (
    register_permission as register_permission,
)
from mingyue.core.tenancy.access import (
    scope_for as scope_for,
)
from mingyue.core.tenancy.identity import (
    TOKEN_PREFIX as TOKEN_PREFIX,
)
from mingyue.core.tenancy.identity import (
    USCC_ALPHABET as USCC_ALPHABET,
)
from mingyue.core.tenancy.identity import (
    USCC_WEIGHTS as USCC_WEIGHTS,
)
from mingyue.core.tenancy.identity import (
    ApiToken as ApiToken,
)
from mingyue.core.tenancy.identity import (
    Organization as Organization,
)
from mingyue.core.tenancy.identity import (
    User as User,
)
from mingyue.core.tenancy.identity import (
    actor_for as actor_for,
)
from mingyue.core.tenancy.identity import (
    find_user as find_user,
)
from mingyue.core.tenancy.identity import (
    hash_password as hash_password,
)
from mingyue.core.tenancy.identity import (
    is_valid_uscc as is_valid_uscc,
)
from mingyue.core.tenancy.identity import (
    new_token as new_token,
)
from mingyue.core.tenancy.identity import (
    token_digest as token_digest,
)
from mingyue.core.tenancy.identity import (
    uscc_check_char as uscc_check_char,
)
from mingyue.core.tenancy.identity import (
    validate_org as validate_org,
)
from mingyue.core.tenancy.identity import (
    validate_roles as validate_roles,
)
from mingyue.core.tenancy.identity import (
    verify_password as verify_password,
)
