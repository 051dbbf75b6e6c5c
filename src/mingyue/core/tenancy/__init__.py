"""Identity and tenancy: actors, permissions, organizations, users, scoped look-ups (public API)."""

from mingyue.core.tenancy.access import (
    OVERSIGHT_ROLES as OVERSIGHT_ROLES,
    Actor as Actor,
    SYSTEM as SYSTEM,
    PermissionSpec as PermissionSpec,
    register_permission as register_permission,
    permissions as permissions,
    Owned as Owned,
    scope_for as scope_for,
    can as can,
    check as check,
    visible as visible,
)
from mingyue.core.tenancy.identity import (
    USCC_ALPHABET as USCC_ALPHABET,
    USCC_WEIGHTS as USCC_WEIGHTS,
    uscc_check_char as uscc_check_char,
    is_valid_uscc as is_valid_uscc,
    Organization as Organization,
    User as User,
    ApiToken as ApiToken,
    hash_password as hash_password,
    verify_password as verify_password,
    TOKEN_PREFIX as TOKEN_PREFIX,
    new_token as new_token,
    token_digest as token_digest,
    validate_org as validate_org,
    validate_roles as validate_roles,
    actor_for as actor_for,
    find_user as find_user,
)
