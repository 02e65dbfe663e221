"""Active Directory's own encodings, pinned on values from Microsoft's documentation.

slapd cannot play AD, so what only AD does is kept in pure functions
(idsync.connectors.ldap.ad) and tested here on the byte and attribute layouts
Microsoft documents; the rest of the connector is the same for both dialects.
"""

from __future__ import annotations

import uuid

from ldap3.core import exceptions as ldap_exc

from idsync.connectors.ldap import ad
from idsync.connectors.ldap.entries import Entry, anchor_of
from idsync.connectors.ldap.failures import Failures
from idsync.connectors.ldap.settings import LdapSettings
from idsync.connectors.ldap.users import disabled
from idsync.contract.errors import AccessDenied


def test_object_guid_renders_as_ad_shows_it() -> None:
    # GUID {3F2504E0-4F89-11D3-9A0C-0305E82C3301} (the RFC 4122/Microsoft sample): Windows
    # stores Data1..Data3 little-endian, Data4 as is.
    raw = bytes.fromhex("E004253F894FD3119A0C0305E82C3301")
    assert ad.guid_string(raw) == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    entry = Entry("CN=x", {"objectguid": [raw]})
    assert anchor_of(entry, "objectGUID") == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert anchor_of(Entry("CN=x", {"objectguid": [b"short"]}), "objectGUID") is None


def test_object_guid_filter_escapes_every_byte_in_stored_order() -> None:
    value = ad.guid_filter_value("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    assert value == "\\e0\\04\\25\\3f\\89\\4f\\d3\\11\\9a\\0c\\03\\05\\e8\\2c\\33\\01"
    round_trip = bytes(int(part, 16) for part in value.split("\\")[1:])
    assert ad.guid_string(round_trip) == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_user_account_control_disable_bit() -> None:
    settings = LdapSettings(
        url="ldaps://dc1.example.org",
        bind_dn="CN=svc,DC=example,DC=org",
        password="x-Secret-9",
        user_base_dns=("DC=example,DC=org",),
        dialect="ad",
    )

    def entry(value: int) -> Entry:
        return Entry("CN=u", {"useraccountcontrol": [str(value).encode()]})

    assert disabled(entry(0x202), settings)  # NORMAL_ACCOUNT | ACCOUNTDISABLE = 514
    assert not disabled(entry(0x200), settings)  # NORMAL_ACCOUNT = 512
    assert not disabled(entry(0x10200), settings)  # + DONT_EXPIRE_PASSWORD = 66048
    assert disabled(entry(0x10202), settings)  # 66050
    assert not disabled(Entry("CN=u", {}), settings)


def test_member_range_retrieval() -> None:
    assert ad.parse_range("member;range=0-1499") == ("member", 0, 1499)
    assert ad.parse_range("member;range=1500-*") == ("member", 1500, None)
    assert ad.parse_range("member") is None
    first = {"member;range=0-1499": [f"CN=u{n}".encode() for n in range(1500)]}
    values, following = ad.ranged_values(first, "member")
    assert len(values) == 1500
    assert following == "member;range=1500-*"
    last = {"member;range=1500-2199": [b"CN=last"]}  # AD answers the final range as N-*…
    assert ad.ranged_values(last, "member")[1] == "member;range=2200-*"
    done = {"member;range=1500-*": [b"CN=last"]}
    assert ad.ranged_values(done, "member") == ([b"CN=last"], None)
    assert ad.ranged_values({"member": [b"CN=a"]}, "member") == ([b"CN=a"], None)
    sized = {"member;range=10-19": [f"CN=u{n}".encode() for n in range(10, 20)]}
    assert ad.ranged_values(sized, "member", 10)[1] == "member;range=20-29"  # range_size
    past_the_end = Entry.of({"dn": "CN=g", "raw_attributes": {"member;range=20-*": None}})
    assert ad.ranged_values(past_the_end.attributes, "member", 10) == ([], None)


def test_bind_failure_sub_codes() -> None:
    message = (
        "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563"
    )
    assert ad.bind_reason(message) == "AD data 52e: the user name or password is incorrect"
    assert ad.bind_reason(message.replace("52e", "533")) == "AD data 533: the account is disabled"
    assert ad.bind_reason("invalid credentials") is None


def test_tombstones_are_removals() -> None:
    guid = uuid.UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    deleted = ad.tombstone_object("user", {"objectguid": [guid.bytes_le], "isdeleted": [b"TRUE"]})
    recycled = ad.tombstone_object(
        "group", {"objectguid": [guid.bytes_le], "isdeleted": [b"TRUE"], "isrecycled": [b"TRUE"]}
    )
    assert deleted is not None
    assert deleted.removed
    assert not deleted.permanently  # restorable from the Recycle Bin
    assert deleted.source_id == str(guid)
    assert recycled is not None
    assert recycled.permanently
    assert ad.tombstone_object("user", {"isdeleted": [b"TRUE"]}) is None
    assert ad.tombstone_filter("user", 41) == (
        "(&(isDeleted=TRUE)(&(objectClass=user)(!(objectClass=computer)))(uSNChanged>=42))"
    )
    assert ad.deleted_objects_base("DC=example,DC=org") == (
        "<WKGUID=18E2EA80684F11D2B9AA00C04F79F805,DC=example,DC=org>"
    )


def test_a_host_name_mismatch_names_the_certificate_s_names() -> None:
    """ldap3's own text for a mismatch (the peer certificate as ssl's getpeercert() dict)
    becomes IDS-502-070; Samba's certificate (subject CN only) is tested in test_ad_samba."""
    settings = LdapSettings(
        url="ldaps://10.0.0.5:636",
        bind_dn="CN=svc,DC=example,DC=org",
        password="x-Secret-9",
        user_base_dns=("DC=example,DC=org",),
        dialect="ad",
    )
    certificate = {
        "subject": ((("commonName", "dc1"),),),
        "subjectAltName": (("DNS", "dc1.corp.example.org"), ("DNS", "*.corp.example.org")),
        "serialNumber": "0A",
    }
    raw = f"socket ssl wrapping error: certificate {certificate} doesn't match any name in ['10.0.0.5'] "
    error = Failures(settings).classify(ldap_exc.LDAPCertificateError(raw))
    assert isinstance(error, AccessDenied)
    assert error.error.code == "IDS-502-070"
    assert "does not name '10.0.0.5'" in error.message
    assert "it names dc1.corp.example.org, *.corp.example.org." in error.message
    assert "serialNumber" not in error.message
    assert "--url ldaps://dc1.corp.example.org:636" in error.action
    assert ad.deleted_control(["1.2.840.113556.1.4.417"]) == ad.SHOW_DELETED_OID  # before 2008 R2
