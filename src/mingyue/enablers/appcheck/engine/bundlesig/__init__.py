"""Cryptographic verification of HarmonyOS (HAP/APP) and iOS (IPA) signatures.

``verify_hap_signature(raw)`` follows OpenHarmony ``hapsigner verify-app``;
``verify_ipa_signature(zf, app_dir, executable, exe_raw, cap)`` follows ``codesign --verify``.
Both return the APK verdict's shape (``verified``, ``verified_schemes``, ``problems`` as stable
keys, ``problem_details``, ``signature_warnings``) plus the signer chain (``signer_chain``,
``chain_complete``, ``trusted_root`` — always false: no vendor root is available offline).
Nothing raises for a hostile file.
"""

from .hap import verify_hap_signature
from .ipa import verify_ipa_signature

__all__ = ["verify_hap_signature", "verify_ipa_signature"]
