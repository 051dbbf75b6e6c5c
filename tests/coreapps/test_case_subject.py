"""A case kind shows its subject on the case page (``subject_view``), above the history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mingyue.core import cases
from mingyue.core.cases import CaseKind, CaseOut, State, SubjectView, Transition
from mingyue.core.errors import NotFound
from mingyue.core.uow import UnitOfWork, unit_of_work


def view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Show the (test) report the case reviews."""
    if case.data.get("gone"):
        raise NotFound("core.not_found", "the report is gone")
    return SubjectView(
        title="core.cases.subject",
        fields=[("core.field.count", str(case.data.get("n", 0))), ("结论", "通过")],
        link=f"/jobs?report={case.data.get('n', 0)}",
    )


KIND = CaseKind(
    name="core.testsubject",
    title={"zh": "测试审核", "en": "Test review"},
    states={
        "open": State({"zh": "待审", "en": "Open"}),
        "done": State({"zh": "已结", "en": "Done"}, terminal=True),
    },
    initial="open",
    transitions=[
        Transition("accept", ("open",), "done", ("reviewer",), {"zh": "通过", "en": "Accept"})
    ],
    subject_view=f"{__name__}:view",
)


@pytest.fixture
def kind() -> Iterator[CaseKind]:
    cases.register_case_kind(KIND)
    try:
        yield KIND
    finally:
        cases.unregister_case_kind(KIND.name)


def _open(settings: Any, actor: Any, org_id: int, **data: Any) -> int:
    with unit_of_work(actor, settings) as uow:
        return cases.open_case(
            uow=uow, kind=KIND.name, title="报告审核", organization_id=org_id, data=data
        ).id


def test_the_case_page_embeds_the_subject_with_its_link(
    client: Any, settings: Any, tenants: Any, actor_of: Any, kind: CaseKind
) -> None:
    member = actor_of(tenants.a.member)
    cid = _open(settings, member, tenants.a.org.id, n=7)
    gone = _open(settings, member, tenants.a.org.id, gone=True)
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/cases/{cid}").text
    subject = page.split('id="case-subject"')[1].split("</section>")[0]
    assert "数量" in subject and ">7<" in subject and "结论" in subject and "通过" in subject
    assert 'href="/jobs?report=7"' in subject and "查看原件" in subject
    assert page.index('id="case-subject"') < page.index('id="history"')
    # case data as a labelled table, not JSON
    assert '{"n"' not in page and '<th scope="row">数量</th>' in page
    page = client.get(f"/cases/{gone}").text
    assert "无权查看" in page and 'id="case-subject-link"' not in page
    # another tenant sees neither the case nor its subject
    client.cookies.clear()
    client.post(
        "/login",
        data={"username": tenants.b.admin.username, "password": "password123"},
        follow_redirects=False,
    )
    r = client.get(f"/cases/{cid}", headers={"accept": "text/html"})
    assert r.status_code == 404 and "查看原件" not in r.text


def test_a_subject_view_ref_must_be_module_func() -> None:
    with pytest.raises(ValueError, match="subject_view"):
        CaseKind(
            name="core.badview",
            title={"zh": "x", "en": "x"},
            states={"a": State({"zh": "a"}), "b": State({"zh": "b"}, terminal=True)},
            initial="a",
            transitions=[Transition("go", ("a",), "b", ("reviewer",), {"zh": "go"})],
            subject_view="no_colon",
        )
    assert KIND.subject_viewer() is view
    assert cases.GENERAL.subject_viewer() is None
