"""Names of VMs and other libvirt objects (virtdeck.model.names)."""

from __future__ import annotations

import pytest

from virtdeck.model.names import NAME_MAX, NAME_RULE, InvalidName, check_name


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "7",
        "vm1",
        "web-01",
        "db_primary",
        "Fedora40",
        "debian12.cloud",
        "k8s-node-3.example",
        "9lives",
        "a" * NAME_MAX,
        "A.b-c_d",
    ],
)
def test_accepts_typical_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * (NAME_MAX + 1),
        "a/b",
        "a<b",
        "a>b",
        "a&b",
        "a'b",
        'a"b',
        "a b",
        "a\tb",
        "-lead",
        "_lead",
        ".hidden",
        "..",
        "caf\u00e9",
        "\u0432\u043c1",
        "vm\u00a0",
        "vm\n",
        "vm\r\n",
        "\nvm",
        "a;rm",
        "a$b",
        "a:b",
        "a\\b",
        "a*",
    ],
)
def test_refuses(name: str) -> None:
    with pytest.raises(InvalidName):
        check_name(name)


def test_length_limit_is_64() -> None:
    assert NAME_MAX == 64
    check_name("x" * 64)
    with pytest.raises(InvalidName):
        check_name("x" * 65)


def test_message_names_the_kind_quotes_the_name_and_states_the_rule() -> None:
    with pytest.raises(InvalidName) as info:
        check_name("a b", kind="network")
    message = str(info.value)
    assert message.startswith("network name 'a b' is not allowed")
    assert NAME_RULE in message


def test_default_kind_is_vm_and_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^VM name"):
        check_name("")
