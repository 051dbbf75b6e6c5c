"""The NGSI-LD engine, pure: JSON-LD terms, entity parsing, q-language, geo, projections."""

from __future__ import annotations

import pytest

from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.entity import Parser
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError
from mingyue.enablers.citygov.engine.ngsi.order import parse_order, sort
from mingyue.enablers.citygov.engine.ngsi.projection import depth, parse_projection
from mingyue.enablers.citygov.engine.ngsi.query import (
    Evaluator,
    match_selector,
    parse_q,
    parse_scope_q,
    parse_selector,
    scope_matches,
)
from mingyue.enablers.citygov.engine.ngsi.render import (
    RenderOptions,
    parse_lang,
    pick_language,
    render,
)

NOW = "2026-12-07T00:00:00.000Z"
USER_CTX = {
    "ex": "https://example.org/city#",
    "Toilet": "ex:Toilet",
    "seats": "ex:seats",
    "owner": {"@id": "ex:owner", "@type": "@id"},
}


def _no_fetch(url: str) -> object:
    raise NgsiError("LdContextNotAvailable", f"not loading {url}")


def test_terms_expand_and_compact_both_ways() -> None:
    ctx = jsonld.build([USER_CTX], _no_fetch)
    assert ctx.expand("Toilet") == "https://example.org/city#Toilet"
    assert ctx.expand("ex:flush") == "https://example.org/city#flush"
    assert ctx.expand("colour") == "https://uri.etsi.org/ngsi-ld/default-context/colour"
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    assert ctx.compact("https://example.org/city#seats") == "seats"
    assert ctx.compact("https://example.org/city#flush") == "ex:flush"
    assert ctx.compact("https://uri.etsi.org/ngsi-ld/default-context/colour") == "colour"
    assert ctx.compact("https://other.example/x") == "https://other.example/x"


def test_core_terms_are_protected_and_remote_contexts_never_fetched() -> None:
    ctx = jsonld.build([{"location": "https://evil.example/location"}], _no_fetch)
    assert ctx.expand("location") == "https://uri.etsi.org/ngsi-ld/location"
    with pytest.raises(NgsiError) as err:
        jsonld.build(["https://attacker.example/ctx.jsonld"], _no_fetch)
    assert err.value.status == 503
    with pytest.raises(NgsiError):
        jsonld.build([{"x": {"@id": "ex:x", "@context": {"y": "ex:y"}}}], _no_fetch)  # scoped


def test_parser_normalizes_concise_and_refuses_bad_members() -> None:
    ctx = jsonld.build([USER_CTX], _no_fetch)
    p = Parser(ctx, NOW)
    doc = p.entity(
        {
            "id": "urn:ngsi-ld:Toilet:1",
            "type": "Toilet",
            "seats": 4,
            "location": {"type": "Point", "coordinates": [106.5, 29.5]},
            "owner": {"object": "urn:ngsi-ld:Org:1"},
            "name": {"type": "LanguageProperty", "languageMap": {"zh": "公厕", "en": "toilet"}},
        }
    )
    attrs = doc["attrs"]
    assert attrs["https://example.org/city#seats"][0]["type"] == "Property"
    assert attrs["https://uri.etsi.org/ngsi-ld/location"][0]["type"] == "GeoProperty"
    assert attrs["https://example.org/city#owner"][0]["type"] == "Relationship"
    bad = [
        {"seats": {"type": "Property"}},  # no value
        {"seats": {"type": "Property", "value": None}},
        {"seats": {"type": "Relationship", "object": "not a uri"}},
        {"seats": {"type": "Property", "value": 1, "object": "urn:x:1"}},
        {"seats": {"type": "Property", "value": 1, "observedAt": "2026-12-07T08:00:00+08:00"}},
        {"location": {"type": "Property", "value": 3}},
        {
            "seats": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]
        },  # 2 defaults
        {"1seats": 1},
        {"observedAt": {"type": "Property", "value": 1}},
    ]
    for extra in bad:
        with pytest.raises(NgsiError):
            p.entity({"id": "urn:ngsi-ld:Toilet:2", "type": "Toilet", **extra})


def test_render_round_trips_normalized_and_simplified() -> None:
    ctx = jsonld.build([USER_CTX], _no_fetch)
    body = {
        "id": "urn:ngsi-ld:Toilet:1",
        "type": "Toilet",
        "seats": {"type": "Property", "value": [1, {"a": [2, 3]}], "unitCode": "C62"},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Org:1"},
    }
    doc = Parser(ctx, NOW).entity(body)
    assert render(doc, ctx, RenderOptions()) == body
    assert render(doc, ctx, RenderOptions(simplified=True)) == {
        "id": "urn:ngsi-ld:Toilet:1",
        "type": "Toilet",
        "seats": [1, {"a": [2, 3]}],
        "owner": "urn:ngsi-ld:Org:1",
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("temperature>30", True),
        ("temperature>30;humidity<50", False),
        ("temperature>30|humidity<50", True),
        ("temperature==20..40", True),
        ("temperature!=20..40", False),
        ('status=="ok","warn"', True),
        ('status~="^o"', True),
        ('status!~="^o"', False),
        ("!missing", True),
        ("temperature.observedAt>=2026-12-07T08:00:00Z", True),
        ('address[city]=="重庆"', True),
        ("address[district]", False),
        ('name[zh]=="温度计"', True),
        ('name[*]=="thermo"', True),
        ('located>"urn:a"', False),  # ordering never matches a relationship
        ('(temperature<0|status=="ok");humidity>=60', True),
    ],
)
def test_q_language(q: str, expected: bool) -> None:
    ctx = jsonld.core_context()
    doc = Parser(ctx, NOW).entity(
        {
            "id": "urn:ngsi-ld:Device:1",
            "type": "Device",
            "temperature": {
                "type": "Property",
                "value": 35.5,
                "observedAt": "2026-12-07T09:00:00Z",
            },
            "humidity": {"type": "Property", "value": 60},
            "status": {"type": "Property", "value": "ok"},
            "address": {"type": "Property", "value": {"city": "重庆"}},
            "name": {"type": "LanguageProperty", "languageMap": {"zh": "温度计", "en": "thermo"}},
            "located": {"type": "Relationship", "object": "urn:ngsi-ld:Park:1"},
        }
    )
    assert Evaluator(ctx).matches(parse_q(q), doc) is expected


@pytest.mark.parametrize("bad", ["", "a>>", "a>4..5", "(a==1", 'a=="x', "a[b", "a..b==1"])
def test_q_grammar_errors(bad: str) -> None:
    with pytest.raises(NgsiError):
        parse_q(bad)


def test_scope_and_type_selectors() -> None:
    scopes = ["/Chongqing/Yuzhong/Jiefangbei"]
    for q, hit in (
        ("/Chongqing/#", True),
        ("/Chongqing/+/Jiefangbei", True),
        ("/Chongqing", False),
        ("/#", True),
        ("/Chengdu/#", False),
    ):
        assert match_selector(parse_scope_q(q), lambda p: scope_matches(p, scopes)) is hit, q
    sel = parse_selector("(A;B),C")
    assert match_selector(sel, {"A", "B"}.__contains__)
    assert match_selector(sel, {"C"}.__contains__)
    assert not match_selector(sel, {"A"}.__contains__)


def test_geo_validation_and_relations() -> None:
    with pytest.raises(NgsiError, match="latitude"):
        geo.check_geometry({"type": "Point", "coordinates": [29.5, 106.5]})  # lat, lon swapped
    with pytest.raises(NgsiError, match="self-intersecting"):
        geo.check_geometry(
            {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
        )
    for bad in (
        "near",
        "near;maxDistance==0",
        "near;maxDistance==-5",
        "near;maxDistance==inf",
        "near;maxDistance==1;minDistance==2",
        "touches",
    ):
        with pytest.raises(NgsiError):
            geo.parse_georel(bad)
    q = geo.build_query("near;maxDistance==1000", "Point", "[106.55,29.56]")
    assert q is not None
    assert geo.matches(q, {"type": "Point", "coordinates": [106.555, 29.56]})  # ~484 m
    assert not geo.matches(q, {"type": "Point", "coordinates": [106.57, 29.56]})  # ~1.9 km
    # near an extended reference measures from its closest point
    line = geo.build_query("near;maxDistance==200", "LineString", [[106.5, 29.5], [106.6, 29.5]])
    assert line is not None and geo.matches(
        line, {"type": "Point", "coordinates": [106.55, 29.501]}
    )
    box = geo.build_query(
        "within", "Polygon", [[[106, 29], [107, 29], [107, 30], [106, 30], [106, 29]]]
    )
    assert box is not None and geo.matches(box, {"type": "Point", "coordinates": [106.5, 29.5]})


def test_projection_and_ordering() -> None:
    tree = parse_projection("id,locatedAt{id,name,isIn{id}}", "pick")
    assert tree == {"id": None, "locatedAt": {"id": None, "name": None, "isIn": {"id": None}}}
    assert depth(tree) == 2
    for bad in ("a,,b", "a{", "a{{b}}", "{a}", "a}", "a,"):
        with pytest.raises(NgsiError):
            parse_projection(bad, "pick")
    ctx = jsonld.core_context()
    docs = [
        Parser(ctx, NOW).entity({"id": f"urn:x:{n}", "type": "T", **({"name": n} if n else {})})
        for n in ("b", "", "á", "A")
    ]
    ordered = sort(docs, parse_order("name", ctx, None), None, "und")
    assert [d["id"] for d in ordered] == ["urn:x:A", "urn:x:á", "urn:x:b", "urn:x:"]


def test_language_negotiation() -> None:
    lmap = {"en": "toilet", "zh-Hans": "公厕", "fr": "toilettes"}
    assert pick_language(lmap, parse_lang("zh")) == ("zh-Hans", "公厕")
    assert pick_language(lmap, parse_lang("fr;q=0.5,en;q=0.9")) == ("en", "toilet")
    assert pick_language(lmap, parse_lang("de")) == ("en", "toilet")
