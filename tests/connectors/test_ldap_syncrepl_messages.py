"""RFC 4533's messages as bytes on the wire, decoded: those OpenLDAP's syncprov sends in
refreshOnly mode are pinned against a real slapd (test_ldap_syncrepl.py); these are the
ones it does not send there (Sync State ``present`` and ``delete`` entries, refreshPresent
and refreshDelete messages, a new cookie), which other servers may, written here byte by
byte from RFC 4533 §2 (BER, IMPLICIT TAGS) and handed over as ldap3 hands them over."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from idsync.connectors.ldap import syncrepl

ALICE = uuid.UUID("2d84b0bc-8461-1041-8fd6-3fa92431e09f")
BOB = uuid.UUID("2d84f310-8461-1041-8fd7-3fa92431e09f")
COOKIE = b"rid=000,csn=20261204190347.168926Z#000000#000#000000"


def tlv(tag: int, content: bytes) -> bytes:
    assert len(content) < 128  # short-form lengths are enough here
    return bytes([tag, len(content)]) + content


def octets(value: bytes) -> bytes:
    return tlv(0x04, value)


def boolean(value: bool) -> bytes:
    return tlv(0x01, b"\xff" if value else b"\x00")


def entry(dn: str, state: int, anchor: uuid.UUID, **attributes: list[bytes]) -> dict[str, Any]:
    value = tlv(0x30, tlv(0x0A, bytes([state])) + octets(anchor.bytes))
    return {
        "type": "searchResEntry",
        "dn": dn,
        "raw_attributes": attributes,
        "controls": {syncrepl.SYNC_STATE_OID: {"value": value}},
    }


def info(value: bytes) -> dict[str, Any]:
    return {
        "type": "intermediateResponse",
        "responseName": syncrepl.SYNC_INFO_OID,
        "responseValue": value,
    }


def done(content: bytes) -> dict[str, Any]:
    return {"controls": {syncrepl.SYNC_DONE_OID: {"value": tlv(0x30, content)}}}


def test_the_request_control_asks_for_refresh_only_with_the_cookie() -> None:
    oid, critical, value = syncrepl.request_control(COOKIE)
    assert (oid, critical) == ("1.3.6.1.4.1.4203.1.9.1.1", True)
    # SEQUENCE { mode ENUMERATED refreshOnly (1), cookie OCTET STRING }; reloadHint FALSE
    # is the default, so DER leaves it out.
    assert value == tlv(0x30, tlv(0x0A, b"\x01") + octets(COOKIE))
    assert syncrepl.request_control(None)[2] == tlv(0x30, tlv(0x0A, b"\x01"))


def test_what_syncprov_sent_is_decoded() -> None:
    """Bytes a real slapd 2.5 sent: a syncIdSet of deletions and the Sync Done Control."""
    deleted = (
        b"\xa3}\x04drid=000,csn=20261204190347.162879Z#000000#000#000000,delcsn=20261204190347"
        b".167410Z#000000#000#000000\x01\x01\xff1\x12\x04\x10-\x84\xf3\x10\x84a\x10A\x8f\xd7?"
        b"\xa9$1\xe0\x9f"
    )
    refresh = syncrepl.refresh_of(
        [info(deleted)],
        {"controls": {syncrepl.SYNC_DONE_OID: {"value": b"09\x044" + COOKIE + b"\x01\x01\xff"}}},
    )
    assert refresh.deleted == [str(BOB)]
    assert not refresh.present_phase
    assert refresh.cookie == COOKIE


def test_present_and_delete_states_and_a_present_phase() -> None:
    response = [
        entry("uid=alice,ou=people", 0, ALICE),  # present: unchanged, no attributes
        entry("uid=bob,ou=people", 3, BOB),  # delete
        info(tlv(0xA2, octets(COOKIE) + boolean(False))),  # refreshPresent: present phase ends
    ]
    refresh = syncrepl.refresh_of(response, done(b""))
    assert refresh.present == {str(ALICE)}
    assert refresh.deleted == [str(BOB)]
    assert refresh.changed == []
    assert refresh.present_phase
    assert refresh.cookie == COOKIE


def test_changed_entries_keep_their_attributes_and_a_new_cookie_wins() -> None:
    response = [
        entry("uid=alice,ou=people", 2, ALICE, uid=[b"alice"]),  # modify
        info(tlv(0x80, b"rid=000,csn=1")),  # newcookie [0]
        info(tlv(0xA1, boolean(True))),  # refreshDelete, no cookie: the last one stands
        info(tlv(0xA3, tlv(0x31, octets(BOB.bytes)))),  # syncIdSet, present
    ]
    refresh = syncrepl.refresh_of(response, done(boolean(True)))
    [(anchor, changed)] = refresh.changed
    assert anchor == str(ALICE)
    assert changed.attributes == {"uid": [b"alice"]}
    assert refresh.present == {str(ALICE), str(BOB)}
    assert refresh.cookie == b"rid=000,csn=1"
    assert not refresh.present_phase  # the Sync Done says refreshDeletes TRUE


def test_a_sync_done_without_cookie_leaves_the_old_one() -> None:
    refresh = syncrepl.refresh_of([], done(boolean(True)))
    assert refresh.cookie is None
    assert not refresh.present_phase


def test_a_sync_done_with_refresh_deletes_false_is_a_present_phase() -> None:
    """RFC 4533 §3.3.1: then whatever was not reported present is gone."""
    assert syncrepl.refresh_of([], done(b"")).present_phase


@pytest.mark.parametrize(
    ("response", "result"),
    [
        ([], {}),  # no Sync Done Control
        ([{"type": "searchResEntry", "dn": "uid=x", "controls": {}}], done(b"")),
        ([entry("uid=x", 1, ALICE) | {"controls": {syncrepl.SYNC_STATE_OID: {}}}], done(b"")),
        ([info(b"\xa3\x03\x04\x01x")], done(b"")),  # a syncIdSet cut short
        ([info(tlv(0xA3, tlv(0x31, octets(b"short"))))], done(b"")),  # not a 16-octet UUID
    ],
)
def test_an_answer_that_breaks_rfc_4533_is_unusable(
    response: list[dict[str, Any]], result: dict[str, Any]
) -> None:
    with pytest.raises(syncrepl.Unusable):
        syncrepl.refresh_of(response, result)
