"""Edge cases of the domain model found while reviewing it."""

from __future__ import annotations

from virtdeck.model import Domain


def test_vcpus_on_a_domain_without_vcpu_sets_the_maximum_too() -> None:
    dom = Domain.from_xml("<domain type='qemu'><name>a</name></domain>")
    dom.vcpus = 3
    assert dom.max_vcpus == 3 and dom.vcpus == 3
    assert "<vcpu>3</vcpu>" in dom.to_xml()


def test_clearing_the_last_metadata_key_leaves_no_trace() -> None:
    dom = Domain.from_xml("<domain type='qemu'><name>a</name></domain>")
    dom.set_meta("owner", "ops")
    assert dom.get_meta("owner") == "ops"
    dom.set_meta("owner", None)
    assert dom.to_xml() == '<domain type="qemu"><name>a</name></domain>'


def test_clearing_our_metadata_keeps_other_namespaces() -> None:
    dom = Domain.from_xml(
        "<domain type='qemu'><name>a</name><metadata>"
        "<other:x xmlns:other='urn:other'>1</other:x></metadata></domain>"
    )
    dom.set_meta("owner", "ops")
    dom.set_meta("owner", None)
    assert '<other:x xmlns:other="urn:other">1</other:x>' in dom.to_xml()
    assert "virtdeck" not in dom.to_xml()


def test_metadata_for_set_uses_a_default_namespace() -> None:
    dom = Domain.from_xml("<domain type='qemu'><name>a</name></domain>")
    dom.set_meta("owner", "ops")
    assert dom.metadata_for_set() == (
        '<vm xmlns="https://virtdeck.dev/xmlns/domain/1"><owner>ops</owner></vm>'
    )
