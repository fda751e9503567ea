"""Child, LazyChild, Children, Child.field and Flag (virtdeck.model.xmlbase)."""

from __future__ import annotations

import pytest

from virtdeck.model.xmlbase import (
    Child,
    Children,
    Flag,
    LazyChild,
    XmlElement,
    iter_tags,
    text,
)


class Leaf(XmlElement):
    TAG = "leaf"
    colour = text("./@colour")


class Part(XmlElement):
    TAG = "part"
    CHILD_ORDER = ("leaf", "note")
    kind = text("./@kind")
    leaf = Child(Leaf)
    leaf_colour = leaf.field(Leaf.colour)
    note = text("./note")


class Frame(XmlElement):
    TAG = "frame"
    CHILD_ORDER = ("head", "part", "leaf", "marker", "tail")
    head = text("./head")
    part = LazyChild(Part)
    optional_part = Child(Part)
    leaves = Children(Leaf)
    marker = Flag("marker")
    tail = text("./tail")


def tags(element: XmlElement) -> list[str]:
    return list(iter_tags(element.node))


def test_reading_missing_children_creates_nothing() -> None:
    frame = Frame.from_xml("<frame><head>h</head></frame>")
    assert frame.optional_part is None
    assert frame.leaves == []
    assert frame.marker is False
    view = frame.part
    assert (view.kind, view.leaf, view.leaf_colour, view.note) == (None, None, None, None)
    assert not view.is_attached
    assert frame.to_xml() == "<frame><head>h</head></frame>"


def test_a_lazy_child_joins_the_tree_in_order_on_its_first_write() -> None:
    frame = Frame.from_xml("<frame><head>h</head><tail>t</tail></frame>")
    view = frame.part
    view.kind = "k"
    assert view.is_attached
    assert tags(frame) == ["head", "part", "tail"]
    assert frame.to_xml() == '<frame><head>h</head><part kind="k"/><tail>t</tail></frame>'


def test_a_write_two_levels_down_attaches_every_level_in_order() -> None:
    frame = Frame.from_xml("<frame><tail/></frame>")
    frame.part.note = "n"
    frame.part.leaf_colour = "red"  # <leaf> goes before <note> in Part's order
    assert frame.to_xml() == '<frame><part><leaf colour="red"/><note>n</note></part><tail/></frame>'


def test_two_views_of_one_missing_child_make_one_child() -> None:
    frame = Frame()
    first, second = frame.part, frame.part
    first.kind = "a"
    assert second.kind == "a"  # the second view finds the child the first made
    second.note = "n"
    assert frame.to_xml() == '<frame><part kind="a"><note>n</note></part></frame>'


def test_ensure_creates_at_the_right_place_and_returns_an_existing_one() -> None:
    frame = Frame.from_xml("<frame><head/><marker/></frame>")
    made = Frame.optional_part.ensure(frame)
    made.kind = "x"
    assert tags(frame) == ["head", "part", "marker"]
    again = Frame.optional_part.ensure(frame)
    assert again.node is made.node


def test_assigning_a_child_replaces_it_in_place_and_none_removes_it() -> None:
    frame = Frame.from_xml('<frame><head/><part kind="old"/><tail/></frame>')
    new = Part()
    new.kind = "new"
    frame.optional_part = new
    assert frame.to_xml() == '<frame><head/><part kind="new"/><tail/></frame>'
    frame.optional_part = None
    assert frame.to_xml() == "<frame><head/><tail/></frame>"
    frame.optional_part = new
    assert tags(frame) == ["head", "part", "tail"]


def test_child_field_clears_an_emptied_child_and_keeps_one_with_more_in_it() -> None:
    part = Part.from_xml('<part><leaf colour="red"/></part>')
    assert part.leaf_colour == "red"
    part.leaf_colour = None
    assert part.to_xml() == "<part/>"
    part = Part.from_xml('<part><leaf colour="red" size="2"/></part>')
    part.leaf_colour = None
    assert part.to_xml() == '<part><leaf size="2"/></part>'
    part.leaf_colour = None  # clearing what is gone changes nothing
    assert Part.leaf_colour.path == "./leaf/@colour"


def test_children_read_in_document_order_and_assignment_replaces_them_in_order() -> None:
    frame = Frame.from_xml('<frame><leaf colour="a"/><tail/><leaf colour="b"/></frame>')
    assert [leaf.colour for leaf in frame.leaves] == ["a", "b"]
    fresh = []
    for colour in ("x", "y", "z"):
        leaf = Leaf()
        leaf.colour = colour
        fresh.append(leaf)
    frame.leaves = fresh
    assert frame.to_xml() == (
        '<frame><leaf colour="x"/><leaf colour="y"/><leaf colour="z"/><tail/></frame>'
    )
    frame.leaves = []
    assert frame.to_xml() == "<frame><tail/></frame>"


def test_children_of_a_lazy_view_attach_it() -> None:
    class Outer(XmlElement):
        TAG = "outer"
        frame = LazyChild(Frame)

    outer = Outer()
    assert outer.frame.leaves == [] and outer.to_xml() == "<outer/>"
    outer.frame.leaves = [Leaf()]
    assert outer.to_xml() == "<outer><frame><leaf/></frame></outer>"


def test_add_child_goes_after_its_own_kind() -> None:
    frame = Frame.from_xml('<frame><leaf colour="a"/><tail/></frame>')
    frame.add_child(Leaf())
    assert tags(frame) == ["leaf", "leaf", "tail"]
    frame.remove_child(frame.leaves[0])
    assert [leaf.colour for leaf in frame.leaves] == [None]


@pytest.mark.parametrize(
    ("start", "order"),
    [("<frame/>", ["marker"]), ("<frame><head/><tail/></frame>", ["head", "marker", "tail"])],
)
def test_flag_is_an_empty_element_in_order(start: str, order: list[str]) -> None:
    frame = Frame.from_xml(start)
    frame.marker = True
    frame.marker = True  # no second one
    assert frame.marker is True
    assert frame.to_xml().count("<marker/>") == 1
    assert tags(frame) == order
    frame.marker = False
    assert frame.to_xml() == start


def test_hostile_values_are_escaped_by_lxml() -> None:
    hostile = "a'b<c>&d\""
    frame = Frame()
    frame.part.leaf_colour = hostile
    frame.tail = hostile
    xml = frame.to_xml()
    assert "<c>" not in xml
    again = Frame.from_xml(xml)
    assert (again.part.leaf_colour, again.tail) == (hostile, hostile)
    assert again.to_xml() == xml


def test_the_base_validate_accepts_anything() -> None:
    Frame.from_xml("<frame><whatever/></frame>").validate()
