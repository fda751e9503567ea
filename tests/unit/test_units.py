"""Sizes typed by a person, parsed in one place (virtdeck.model.units)."""

from __future__ import annotations

import pytest

from virtdeck.model.units import SizeError, format_size, parse_size, to_kib, unit_factor

KIB, MIB, GIB, TIB = 2**10, 2**20, 2**30, 2**40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512M", 512 * MIB),
        ("2G", 2 * GIB),
        ("1.5GiB", 3 * GIB // 2),
        ("2048KiB", 2 * MIB),
        ("100", 100),
        ("1GB", 10**9),
        ("1MB", 10**6),
        ("3KB", 3000),
        ("1T", TIB),
        ("1TiB", TIB),
        ("2k", 2 * KIB),
        ("4 MiB", 4 * MIB),
        ("  8g  ", 8 * GIB),
        ("10b", 10),
        ("10bytes", 10),
        ("0.5K", 512),
    ],
)
def test_parse_size_accepts(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "default_unit", "expected"),
    [
        ("512", "M", 512 * MIB),
        ("2", "G", 2 * GIB),
        ("2048", "KiB", 2 * MIB),
        ("1.5", "GiB", 3 * GIB // 2),
        ("2G", "M", 2 * GIB),  # an explicit unit wins over the default
        ("100B", "G", 100),
        (4, "G", 4 * GIB),
        (4096, "", 4096),
    ],
)
def test_parse_size_default_unit(text: str | int, default_unit: str, expected: int) -> None:
    assert parse_size(text, default_unit=default_unit) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-1",
        "abc",
        "",
        "   ",
        "1.5X",
        "0.0001",
        "0M",
        "0.0",
        "1e3",
        "G",
        "1,5G",
        "1.G",
        "2 G B",
    ],
)
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(SizeError):
        parse_size(text)


@pytest.mark.parametrize("value", [0, -1, -4096])
def test_parse_size_refuses_non_positive_int(value: int) -> None:
    with pytest.raises(SizeError, match="greater than zero"):
        parse_size(value)


def test_parse_size_refuses_bad_default_unit() -> None:
    with pytest.raises(SizeError, match="unknown size unit"):
        parse_size("12", default_unit="furlongs")


def test_size_error_is_a_value_error_with_a_hint() -> None:
    with pytest.raises(ValueError, match=r"512M, 2G or 1\.5GiB"):
        parse_size("abc")


def test_less_than_one_byte_is_refused_with_the_input_quoted() -> None:
    with pytest.raises(SizeError, match=r"0\.0001"):
        parse_size("0.0001")


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("K", KIB), ("kib", KIB), ("M", MIB), ("GiB", GIB), ("KB", 1000), ("gb", 10**9), ("", 1)],
)
def test_unit_factor(unit: str, factor: int) -> None:
    assert unit_factor(unit) == factor


@pytest.mark.parametrize(
    ("size_bytes", "kib"),
    [
        (0, 0),
        (1, 1),
        (1023, 1),
        (1024, 1),
        (1025, 2),
        (2048, 2),
        (GIB, 1024 * 1024),
        (10**9, 976563),
    ],
)
def test_to_kib_rounds_up(size_bytes: int, kib: int) -> None:
    assert to_kib(size_bytes) == kib


def test_to_kib_never_shrinks_a_size() -> None:
    for size in range(1, 5000, 7):
        assert to_kib(size) * 1024 >= size > (to_kib(size) - 1) * 1024


@pytest.mark.parametrize(
    ("size_bytes", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (256 * MIB, "256 MiB"),
        (3 * GIB // 2, "1.5 GiB"),
        (10 * GIB, "10 GiB"),
        (TIB, "1 TiB"),
        (2048 * TIB, "2 PiB"),
        (2**63 - 1, "8 EiB"),
    ],
)
def test_format_size(size_bytes: int, text: str) -> None:
    assert format_size(size_bytes) == text


@pytest.mark.parametrize("text", ["512M", "2G", "1.5GiB", "10G", "3T", "1K"])
def test_format_then_parse_round_trips(text: str) -> None:
    size = parse_size(text)
    assert parse_size(format_size(size).replace(" ", "")) == size
