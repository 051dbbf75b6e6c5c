"""Where the audit's outside tools live: Slither (own venv), node + solc-js packages, Mythril.

``scripts/digitalasset-audit-setup.sh`` installs them under one folder (default
``<repo>/.venv-da-audit``): ``bin/slither``, ``solcjs/node_modules/solc<digits>/``, and optionally
``mythril/bin/myth``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mingyue.enablers.digitalasset.engine.audit.pragma import Version, parse_version

SHIM = Path(__file__).with_name("solc_shim.js")


@dataclass(frozen=True, slots=True)
class Toolchain:
    """Paths of the tools one audit uses; ``missing`` says what is absent and why."""

    root: Path
    slither: Path | None
    node: Path | None
    solcjs: dict[Version, Path] = field(default_factory=dict)
    myth: Path | None = None

    @property
    def missing(self) -> list[str]:
        """Human-readable list of what the audit cannot run without."""
        out = []
        if self.slither is None:
            out.append(
                f"slither not found under {self.root}/bin (run scripts/digitalasset-audit-setup.sh)"
            )
        if self.node is None:
            out.append("node not found on PATH")
        if not self.solcjs:
            out.append(f"no solc-js package under {self.root}/solcjs/node_modules")
        return out

    @property
    def versions(self) -> list[Version]:
        """Installed compiler versions."""
        return sorted(self.solcjs)


def discover(root: Path) -> Toolchain:
    """Look for the tools under ``root``; nothing is installed or downloaded here."""
    root = root.resolve()
    slither = root / "bin" / "slither"
    myth = root / "mythril" / "bin" / "myth"
    node = shutil.which("node")
    solcjs: dict[Version, Path] = {}
    modules = root / "solcjs" / "node_modules"
    if modules.is_dir():
        for pkg in sorted(modules.glob("solc*")):
            meta = pkg / "package.json"
            if not meta.is_file():
                continue
            try:
                doc = json.loads(meta.read_text())
                if doc.get("name") == "solc":
                    solcjs[parse_version(str(doc.get("version", "")))] = pkg
            except (ValueError, OSError):
                continue
    return Toolchain(
        root=root,
        slither=slither if slither.is_file() else None,
        node=Path(node) if node else None,
        solcjs=solcjs,
        myth=myth if myth.is_file() else None,
    )
