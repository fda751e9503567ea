"""The typed XML binding every model class is built on (virtdeck.model.xmlbase)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from virtdeck.model.xmlbase import (
    Field,
    XmlElement,
    XmlError,
    insert_ordered,
    integer,
    iter_tags,
    on_off,
    parse_xml,
    text,
    yes_no,
)


class Leaf(XmlElement):
    TAG = "leaf"
    colour = text("./@colour")


class Box(XmlElement):
    TAG = "box"
    CHILD_ORDER = ("alpha", "beta", "gamma")
    label = text("./@label")
    alpha = text("./alpha")
    size = integer("./beta/@size")
    deep = text("./gamma/inner/leaf")
    enabled = yes_no("./@enabled")
    power = on_off("./delta/@power")


def tags(element: XmlElement) -> list[str]:
    return list(iter_tags(element.node))


def c14n(xml: str) -> bytes:
    return etree.tostring(etree.fromstring(xml.encode()), method="c14n")


def test_get_reads_text_and_attributes() -> None:
    box = Box.from_xml('<box label="L"><alpha> a </alpha><beta size="7"/></box>')
    assert box.get("./alpha") == " a "
    assert box.alpha == "a"  # a field strips the raw text before converting it
    assert box.get("./@label") == box.label == "L"
    assert box.get("./beta/@size") == "7"
    assert box.size == 7
    assert box.get("./missing") is None
    assert box.get("./missing/@x") is None
    assert box.get("./beta/@missing") is None
    assert box.deep is None


def test_fields_strip_whitespace_before_converting() -> None:
    box = Box.from_xml('<box enabled=" yes "><beta size=" 12 "/></box>')
    assert box.size == 12
    assert box.enabled is True


def test_set_text_and_attribute_on_existing_elements() -> None:
    box = Box.from_xml('<box label="old"><alpha>1</alpha><beta size="1"/></box>')
    box.alpha = "2"
    box.label = "new"
    box.size = 3
    assert box.to_xml() == '<box label="new"><alpha>2</alpha><beta size="3"/></box>'


def test_missing_elements_are_created_in_child_order() -> None:
    box = Box()
    box.deep = "x"  # gamma/inner/leaf
    box.alpha = "a"  # goes before gamma
    box.size = 5  # beta goes between them
    box.power = True  # delta is not in CHILD_ORDER: appended last
    assert tags(box) == ["alpha", "beta", "gamma", "delta"]
    assert box.to_xml() == (
        '<box><alpha>a</alpha><beta size="5"/><gamma><inner><leaf>x</leaf></inner></gamma>'
        '<delta power="on"/></box>'
    )


def test_existing_children_are_never_reordered() -> None:
    box = Box.from_xml("<box><gamma/><zeta/><alpha/></box>")
    box.size = 1
    assert tags(box) == ["gamma", "zeta", "alpha", "beta"]


def test_new_child_goes_first_when_nothing_ranks_before_it() -> None:
    box = Box.from_xml("<box><!-- note --><zeta/><gamma/></box>")
    box.alpha = "a"
    assert tags(box) == ["alpha", "zeta", "gamma"]
    assert "<!-- note -->" in box.to_xml()


def test_set_none_removes_an_attribute_and_keeps_the_element() -> None:
    box = Box.from_xml('<box label="L"><beta size="1" other="o"/></box>')
    box.label = None
    box.size = None
    assert box.to_xml() == '<box><beta other="o"/></box>'


def test_set_none_prunes_parents_left_empty() -> None:
    box = Box.from_xml("<box><alpha>a</alpha></box>")
    box.deep = "x"
    box.size = 2
    box.deep = None
    box.size = None
    assert box.to_xml() == "<box><alpha>a</alpha></box>"


def test_set_none_keeps_parents_that_still_hold_something() -> None:
    box = Box.from_xml('<box><gamma keep="1"><inner><leaf>x</leaf><other/></inner></gamma></box>')
    box.deep = None
    assert box.to_xml() == '<box><gamma keep="1"><inner><other/></inner></gamma></box>'
    box = Box.from_xml('<box><gamma keep="1"><inner><leaf>x</leaf></inner></gamma></box>')
    box.deep = None
    assert box.to_xml() == '<box><gamma keep="1"/></box>'


def test_set_none_keeps_an_element_with_attributes() -> None:
    box = Box.from_xml('<box><alpha id="1">a</alpha></box>')
    box.alpha = None
    assert box.to_xml() == '<box><alpha id="1"/></box>'


def test_set_none_on_a_missing_path_changes_nothing() -> None:
    source = '<box label="L"><alpha>a</alpha></box>'
    box = Box.from_xml(source)
    box.deep = None
    box.size = None
    box.set("./nothing/here/@x", None)
    assert box.to_xml() == source


@pytest.mark.parametrize(
    ("field", "raw", "value", "rendered"),
    [
        ("enabled", "yes", True, "yes"),
        ("enabled", "no", False, "no"),
        ("enabled", "on", True, "yes"),
        ("power", "off", False, "off"),
        ("power", "yes", True, "on"),
    ],
)
def test_boolean_fields(field: str, raw: str, value: bool, rendered: str) -> None:
    path = Box.enabled.path if field == "enabled" else Box.power.path
    box = Box()
    box.set(path, raw)
    assert getattr(box, field) is value
    setattr(box, field, value)
    assert box.get(path) == rendered


@pytest.mark.parametrize(
    ("xml", "field"),
    [
        ('<box><beta size="many"/></box>', "size"),
        ('<box><beta size="1.5"/></box>', "size"),
        ('<box enabled="maybe"/>', "enabled"),
        ('<box><delta power="1"/></box>', "power"),
    ],
)
def test_bad_values_raise_xml_error_naming_the_path(xml: str, field: str) -> None:
    box = Box.from_xml(xml)
    with pytest.raises(XmlError, match="has a bad value"):
        getattr(box, field)


def test_field_on_the_class_is_the_descriptor() -> None:
    assert isinstance(Box.size, Field)
    assert Box.size.path == "./beta/@size"


UNKNOWN = (
    '<box xmlns:x="urn:x" label="L" extra="e">\n'
    "  <!-- a comment -->\n"
    "  <?pi data?>\n"
    '  <alpha unknown="u">a &amp; b</alpha>\n'
    '  <x:ext x:attr="1"><x:deep>t</x:deep></x:ext>\n'
    "  <mystery><nested/>tail text</mystery>\n"
    "</box>"
)


def test_unknown_content_survives_a_round_trip() -> None:
    assert Box.from_xml(UNKNOWN).to_xml() == UNKNOWN


def test_unknown_content_survives_an_edit() -> None:
    box = Box.from_xml(UNKNOWN)
    box.alpha = "changed"
    box.size = 9
    expected = UNKNOWN.replace("a &amp; b", "changed").replace(
        "  <x:ext", '  <beta size="9"/><x:ext'
    )
    assert c14n(box.to_xml()) == c14n(expected)


@pytest.mark.parametrize("encoding", ["UTF-8", "ISO-8859-1"])
def test_declared_encoding_of_str_and_bytes(encoding: str) -> None:
    source = f'<?xml version="1.0" encoding="{encoding}"?>\n<box label="caf\u00e9"/>'
    # A str is text already: its declaration must not make it be decoded twice.
    assert Box.from_xml(source).label == "caf\u00e9"
    # Bytes are decoded as their declaration says.
    assert Box.from_xml(source.encode(encoding)).label == "caf\u00e9"


@pytest.mark.parametrize(
    "source", ["", "   ", "not xml", "<box>", "<box></bax>", "<box a='1' a='2'/>", "<a/><b/>"]
)
def test_parse_errors_raise_xml_error(source: str) -> None:
    with pytest.raises(XmlError, match="not well formed"):
        Box.from_xml(source)
    with pytest.raises(ValueError):
        parse_xml(source)


def test_wrong_root_element_is_refused() -> None:
    with pytest.raises(XmlError, match="expected <box>, got <leaf>"):
        Box.from_xml("<leaf/>")


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    source = f'<!DOCTYPE box [<!ENTITY x SYSTEM "file://{secret}">]><box><alpha>&x;</alpha></box>'
    assert "TOP-SECRET" not in Box.from_xml(source).to_xml()


def test_default_constructor_makes_an_empty_tag() -> None:
    assert Box().to_xml() == "<box/>"


def test_child_ensure_child_and_children() -> None:
    box = Box.from_xml('<box><gamma><leaf colour="red"/><leaf colour="blue"/></gamma></box>')
    assert [leaf.colour for leaf in box.children(Leaf, "./gamma/leaf")] == ["red", "blue"]
    first = box.child(Leaf, "./gamma/leaf")
    assert first is not None and first.colour == "red"
    assert box.child(Leaf, "./alpha/leaf") is None
    made = box.ensure_child(Leaf, "./alpha/leaf")
    made.colour = "green"
    assert box.get("./alpha/leaf/@colour") == "green"
    assert tags(box) == ["alpha", "gamma"]
    # The wrapper edits the shared tree: no copy is made.
    first.colour = "black"
    assert box.get("./gamma/leaf/@colour") == "black"


def test_xpath_escape_hatch() -> None:
    box = Box.from_xml("<box><alpha>1</alpha><alpha>2</alpha></box>")
    assert [n.text for n in box.xpath("./alpha")] == ["1", "2"]
    assert box.xpath("count(./alpha)") == [2.0]
    assert box.xpath("string(./alpha[2])") == ["2"]


def test_insert_ordered_skips_comments_and_unlisted_tags() -> None:
    parent = etree.fromstring("<p><!-- c --><b/><x/><d/></p>")
    insert_ordered(parent, etree.Element("c"), ("a", "b", "c", "d"))
    insert_ordered(parent, etree.Element("a"), ("a", "b", "c", "d"))
    insert_ordered(parent, etree.Element("z"), ("a", "b", "c", "d"))
    assert etree.tostring(parent, encoding="unicode") == (
        "<p><a/><!-- c --><b/><c/><x/><d/><z/></p>"
    )
    assert list(iter_tags(parent)) == ["a", "b", "c", "x", "d", "z"]
