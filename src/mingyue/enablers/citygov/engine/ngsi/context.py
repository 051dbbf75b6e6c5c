"""JSON-LD ``@context`` handling for NGSI-LD: term definitions, IRI expansion and compaction.

NGSI-LD expands three things against the context: entity types, attribute (and sub-attribute)
names, and the values of VocabProperties. Values themselves are JSON literals and are kept
verbatim, which is what lets the normalized and key-values representations round-trip an
entity exactly. This module implements the part of the JSON-LD 1.1 context processing and IRI
compaction algorithms those three need (term definitions, compact IRIs, ``@vocab``, protected
core terms) with a loader that only serves known documents: a remote context is never fetched
here — the service decides which URLs may be loaded (an allow-list) and hands in a loader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError, bad_data

CONTEXTS_DIR = Path(__file__).resolve().parents[2] / "contexts"
CORE_FILE = "ngsi-ld-core-context-v1.8.jsonld"
CORE_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
# Every published version of the core context (and the unversioned alias) is served from the
# one local copy: the versions only add terms, and the core context is always applied last.
_CORE_RE = re.compile(
    r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(-v1\.\d+)?\.jsonld$"
)
MAX_DEPTH = 8  # nested remote contexts (a context that imports another ...)
_KEYWORDS = frozenset(
    {
        "@id",
        "@type",
        "@context",
        "@vocab",
        "@base",
        "@version",
        "@protected",
        "@language",
        "@direction",
        "@import",
        "@propagate",
        "@container",
        "@graph",
        "@value",
        "@list",
        "@set",
        "@index",
        "@reverse",
        "@nest",
        "@prefix",
        "@json",
        "@none",
        "@included",
    }
)
_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")

Loader = Callable[[str], Any]
"""Return the parsed JSON document at a context URL, or raise NgsiError (503 or 400)."""


@dataclass(frozen=True)
class TermDef:
    """One term of the active context."""

    iri: str
    type: str | None = None
    container: str | None = None
    protected: bool = False
    prefix: bool = False


@dataclass
class ActiveContext:
    """The terms in force for one request (the user's contexts, then the core context)."""

    terms: dict[str, TermDef] = field(default_factory=dict)
    vocab: str | None = None
    sources: tuple[Any, ...] = ()
    _reverse: dict[str, list[str]] | None = None
    _compact_cache: dict[tuple[str, bool], str] = field(default_factory=dict)
    _expand_cache: dict[tuple[str, bool], str] = field(default_factory=dict)

    # -- expansion ----------------------------------------------------------------------------

    def expand(self, name: str, *, vocab: bool = True) -> str:
        """Expand a term, compact IRI or IRI (``vocab``: resolve bare names against @vocab)."""
        cached = self._expand_cache.get((name, vocab))
        if cached is not None:
            return cached
        out = self._expand(name, vocab)
        self._expand_cache[(name, vocab)] = out
        return out

    def _expand(self, name: str, vocab: bool) -> str:
        if name.startswith("@"):
            return name
        td = self.terms.get(name)
        if td is not None:
            return td.iri
        if ":" in name:
            prefix, _, suffix = name.partition(":")
            if prefix == "_" or suffix.startswith("//"):
                return name
            ptd = self.terms.get(prefix)
            if ptd is not None and ptd.prefix:
                return ptd.iri + suffix
            return name
        if vocab and self.vocab is not None:
            return self.vocab + name
        return name

    # -- compaction ---------------------------------------------------------------------------

    def compact(self, iri: str, *, vocab: bool = True) -> str:
        """Compact an IRI to a term, ``@vocab``-relative name or compact IRI when one fits."""
        cached = self._compact_cache.get((iri, vocab))
        if cached is not None:
            return cached
        out = self._compact(iri, vocab)
        self._compact_cache[(iri, vocab)] = out
        return out

    def _reverse_index(self) -> dict[str, list[str]]:
        if self._reverse is None:
            rev: dict[str, list[str]] = {}
            for term, td in self.terms.items():
                if td.iri.startswith("@"):
                    continue
                rev.setdefault(td.iri, []).append(term)
            for terms in rev.values():
                terms.sort(key=lambda t: (len(t), t))
            self._reverse = rev
        return self._reverse

    def _compact(self, iri: str, vocab: bool) -> str:
        rev = self._reverse_index()
        if vocab and iri in rev:
            return rev[iri][0]
        if vocab and self.vocab and iri.startswith(self.vocab) and len(iri) > len(self.vocab):
            suffix = iri[len(self.vocab) :]
            if suffix not in self.terms:
                return suffix
        best: str | None = None
        for term, td in self.terms.items():
            if not td.prefix or not iri.startswith(td.iri) or len(iri) == len(td.iri):
                continue
            candidate = f"{term}:{iri[len(td.iri) :]}"
            clash = self.terms.get(candidate)
            if clash is not None and clash.iri != iri:
                continue
            if best is None or (len(candidate), candidate) < (len(best), best):
                best = candidate
        return best if best is not None else iri

    def term(self, name: str) -> TermDef | None:
        """Return the definition of a term (``None`` if the context does not define it)."""
        return self.terms.get(name)


# -- loading and processing -------------------------------------------------------------------


def is_core_url(url: str) -> bool:
    """Tell whether a URL names the NGSI-LD core context (any version)."""
    return bool(_CORE_RE.match(url))


@lru_cache(maxsize=1)
def core_document() -> dict[str, Any]:
    """Return the local copy of the NGSI-LD core context document."""
    doc: dict[str, Any] = json.loads((CONTEXTS_DIR / CORE_FILE).read_text(encoding="utf-8"))
    return doc


@lru_cache(maxsize=1)
def core_context() -> ActiveContext:
    """Return the active context holding only the core terms."""
    ctx = ActiveContext(sources=())
    _process_local(ctx, core_document()["@context"], protected_default=True, core=True)
    return ctx


def _copy(base: ActiveContext) -> ActiveContext:
    return ActiveContext(terms=dict(base.terms), vocab=base.vocab)


def build(contexts: Iterable[Any], loader: Loader) -> ActiveContext:
    """Process user contexts (URLs or objects, in order) and apply the core context last."""
    items = list(contexts)
    ctx = ActiveContext()
    core = core_context()
    for item in items:
        _process(ctx, item, loader, depth=0)
    # The core context is always in force and its terms are protected (clause 5.5.7).
    for term, td in core.terms.items():
        ctx.terms[term] = td
    if ctx.vocab is None:
        ctx.vocab = core.vocab
    ctx.sources = tuple(items)
    return ctx


def _process(ctx: ActiveContext, item: Any, loader: Loader, *, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise bad_data("@context nests remote contexts too deeply")
    if item is None:
        return
    if isinstance(item, list):
        for sub in item:
            _process(ctx, sub, loader, depth=depth)
        return
    if isinstance(item, str):
        if is_core_url(item):
            return  # applied last anyway
        doc = loader(item)
        if not isinstance(doc, dict) or "@context" not in doc:
            raise bad_data(f"the remote @context {item} has no @context member")
        _process(ctx, doc["@context"], loader, depth=depth + 1)
        return
    if isinstance(item, dict):
        _process_local(ctx, item, protected_default=False, core=False)
        return
    raise bad_data("an @context entry must be a URL, an object or an array of them")


def _process_local(
    ctx: ActiveContext, local: dict[str, Any], *, protected_default: bool, core: bool
) -> None:
    protected = bool(local.get("@protected", protected_default))
    if "@vocab" in local:
        v = local["@vocab"]
        if v is None:
            ctx.vocab = None
        elif isinstance(v, str):
            ctx.vocab = _resolve_value(ctx, local, v, set())
        else:
            raise bad_data("@vocab must be a string")
    ctx._reverse = None
    ctx._compact_cache.clear()
    ctx._expand_cache.clear()
    defined: set[str] = set()
    for term in local:
        if term.startswith("@"):
            continue
        _define(ctx, local, term, defined, protected=protected, core=core)


def _define(
    ctx: ActiveContext,
    local: dict[str, Any],
    term: str,
    defined: set[str],
    *,
    protected: bool,
    core: bool,
) -> None:
    if term in defined:
        return
    defined.add(term)
    value = local[term]
    if value is None:
        ctx.terms.pop(term, None)
        return
    type_: str | None = None
    container: str | None = None
    if isinstance(value, str):
        iri_src = value
        simple = True
    elif isinstance(value, dict):
        simple = False
        if "@context" in value and not core:
            raise bad_data(f"scoped contexts are not supported (term {term!r})")
        raw_id = value.get("@id", term)
        if raw_id is None:
            ctx.terms.pop(term, None)
            return
        if not isinstance(raw_id, str):
            raise bad_data(f"the @id of term {term!r} must be a string")
        iri_src = raw_id
        t = value.get("@type")
        if t is not None:
            if not isinstance(t, str):
                raise bad_data(f"the @type of term {term!r} must be a string")
            type_ = t if t.startswith("@") else _resolve_value(ctx, local, t, defined)
        c = value.get("@container")
        if isinstance(c, list):
            c = c[0] if c else None
        container = c if isinstance(c, str) else None
    else:
        raise bad_data(f"the definition of term {term!r} must be a string or an object")
    iri = _resolve_value(ctx, local, iri_src, defined, self_term=term)
    prefix = simple and (iri.endswith(_GEN_DELIMS) or term in ("ngsi-ld", "geojson"))
    if isinstance(value, dict) and "@prefix" in value:
        prefix = bool(value["@prefix"])
    ctx.terms[term] = TermDef(
        iri=iri,
        type=type_,
        container=container,
        protected=protected,
        prefix=prefix and ":" not in term,
    )


def _resolve_value(
    ctx: ActiveContext,
    local: dict[str, Any],
    value: str,
    defined: set[str],
    *,
    self_term: str | None = None,
) -> str:
    if value.startswith("@"):
        return value
    if ":" in value:
        prefix, _, suffix = value.partition(":")
        if prefix == "_" or suffix.startswith("//"):
            return value
        if prefix in local and prefix != self_term and prefix not in defined:
            _define(ctx, local, prefix, defined, protected=False, core=False)
        ptd = ctx.terms.get(prefix)
        if ptd is not None:
            return ptd.iri + suffix
        return value
    if value in local and value != self_term and value not in defined:
        _define(ctx, local, value, defined, protected=False, core=False)
    td = ctx.terms.get(value)
    if td is not None and value != self_term:
        return td.iri
    if ctx.vocab is not None:
        return ctx.vocab + value
    return value


def is_iri(value: str) -> bool:
    """Tell whether a string is an absolute IRI (has a scheme)."""
    return bool(_SCHEME.match(value))


def local_documents() -> dict[str, Path]:
    """Return the contexts shipped with the enabler (URL -> file), read from ``index.json``."""
    index = CONTEXTS_DIR / "index.json"
    if not index.exists():
        return {}
    raw: dict[str, str] = json.loads(index.read_text(encoding="utf-8"))
    return {url: CONTEXTS_DIR / name for url, name in raw.items()}


def load_local_file(path: Path, url: str) -> Any:
    """Parse a context file (BadRequestData when it is not JSON)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NgsiError("LdContextNotAvailable", f"the @context {url} cannot be read") from exc


def parse_link_header(value: str | None) -> str | None:
    """Return the context URL of a ``Link: <url>; rel="http://www.w3.org/ns/json-ld#context"``."""
    if not value:
        return None
    for part in value.split(","):
        m = re.match(r"\s*<([^>]*)>(.*)$", part)
        if not m:
            continue
        if "json-ld#context" in m.group(2):
            return m.group(1).strip()
    return None
