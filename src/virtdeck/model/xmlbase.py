"""Typed binding between Python attributes and libvirt XML.

A model class wraps one lxml element and edits it in place, so everything it
does not model (unknown elements, attributes, comments) survives a round
trip. Fields are descriptors bound to a relative XPath of the simple form
``./a/b`` (element text) or ``./a/b/@attr`` (attribute); missing elements
are created on assignment, in the parent's declared child order, and removed
again when set to ``None`` and left empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

from lxml import etree

T = TypeVar("T")
E = TypeVar("E", bound="XmlElement")

_PARSER = etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True)
# A str is encoded to UTF-8 before parsing, so its bytes are UTF-8 whatever its
# XML declaration says (encoding="ISO-8859-1" would otherwise garble non-ASCII).
_STR_PARSER = etree.XMLParser(
    remove_blank_text=False, resolve_entities=False, no_network=True, encoding="utf-8"
)


class XmlError(ValueError):
    """The XML text is not well formed or not the expected element."""


def parse_xml(text: str | bytes) -> etree._Element:
    data, parser = (text.encode(), _STR_PARSER) if isinstance(text, str) else (text, _PARSER)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"the XML is not well formed: {exc}") from exc


def _split(path: str) -> tuple[list[str], str | None]:
    """'./a/b/@c' -> (['a', 'b'], 'c'); './a' -> (['a'], None); '.' -> ([], None)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    attr = None
    if parts and parts[-1].startswith("@"):
        attr = parts.pop()[1:]
    return parts, attr


class XmlElement:
    """Base of every model class: one wrapped element, edited in place."""

    TAG: ClassVar[str] = ""
    # Order of direct children when virtdeck has to create one; children not
    # listed go last. Existing children are never reordered.
    CHILD_ORDER: ClassVar[tuple[str, ...]] = ()

    def __init__(self, node: etree._Element | None = None) -> None:
        if node is None:
            node = etree.Element(self.TAG)
        elif self.TAG and node.tag != self.TAG:
            raise XmlError(f"expected <{self.TAG}>, got <{node.tag}>")
        self.node = node

    @classmethod
    def from_xml(cls, text: str | bytes) -> Self:
        return cls(parse_xml(text))

    def to_xml(self) -> str:
        return etree.tostring(self.node, encoding="unicode")

    # -- the raw escape hatch -------------------------------------------------
    def xpath(self, path: str) -> list[Any]:
        result = self.node.xpath(path)
        return result if isinstance(result, list) else [result]

    def get(self, path: str) -> str | None:
        parts, attr = _split(path)
        node = self._find(parts)
        if node is None:
            return None
        if attr is not None:
            return node.get(attr)
        return node.text

    def set(self, path: str, value: str | None) -> None:
        parts, attr = _split(path)
        if value is None:
            node = self._find(parts)
            if node is None:
                return
            if attr is not None:
                if attr in node.attrib:
                    del node.attrib[attr]
            else:
                node.text = None
            self._prune(parts)
            return
        node = self._ensure(parts)
        if attr is not None:
            node.set(attr, value)
        else:
            node.text = value

    def _find(self, parts: list[str]) -> etree._Element | None:
        node: etree._Element | None = self.node
        for part in parts:
            assert node is not None
            node = node.find(part)
            if node is None:
                return None
        return node

    def _ensure(self, parts: list[str]) -> etree._Element:
        node = self.node
        order = self.CHILD_ORDER
        for part in parts:
            child = node.find(part)
            if child is None:
                child = etree.Element(part)
                insert_ordered(node, child, order)
            node = child
            order = ()
        return node

    def _prune(self, parts: list[str]) -> None:
        """Remove elements along ``parts`` that became empty, deepest first."""
        for depth in range(len(parts), 0, -1):
            node = self._find(parts[:depth])
            if node is None:
                continue
            if len(node) or node.attrib or (node.text and node.text.strip()):
                return
            parent = node.getparent()
            if parent is not None:
                parent.remove(node)

    def child(self, cls: type[E], path: str) -> E | None:
        node = self._find(_split(path)[0])
        return None if node is None else cls(node)

    def ensure_child(self, cls: type[E], path: str) -> E:
        return cls(self._ensure(_split(path)[0]))

    def children(self, cls: type[E], path: str) -> list[E]:
        return [cls(n) for n in self.node.findall(path)]


def insert_ordered(parent: etree._Element, child: etree._Element, order: tuple[str, ...]) -> None:
    """Insert ``child`` after the last sibling that comes before it in ``order``."""
    if child.tag not in order:
        parent.append(child)
        return
    rank = order.index(str(child.tag))
    position = 0
    for index, sibling in enumerate(parent):
        tag = sibling.tag
        if isinstance(tag, str) and tag in order and order.index(tag) <= rank:
            position = index + 1
    parent.insert(position, child)


class Field(Generic[T]):
    """A descriptor for one value at a simple XPath, converted to ``T``."""

    def __init__(
        self,
        path: str,
        parse: Callable[[str], T],
        render: Callable[[T], str] = str,
    ) -> None:
        self.path = path
        self._parse = parse
        self._render = render

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XmlElement, owner: type[Any]) -> T | None: ...
    def __get__(self, obj: XmlElement | None, owner: type[Any]) -> Self | T | None:
        if obj is None:
            return self
        raw = obj.get(self.path)
        if raw is None:
            return None
        try:
            return self._parse(raw.strip())
        except ValueError as exc:
            raise XmlError(f"{self.path} has a bad value {raw!r}: {exc}") from exc

    def __set__(self, obj: XmlElement, value: T | None) -> None:
        obj.set(self.path, None if value is None else self._render(value))


def _parse_bool_yes_no(raw: str) -> bool:
    if raw in ("yes", "on"):
        return True
    if raw in ("no", "off"):
        return False
    raise ValueError("expected yes/no")


def text(path: str) -> Field[str]:
    return Field(path, str)


def integer(path: str) -> Field[int]:
    return Field(path, int)


def yes_no(path: str) -> Field[bool]:
    return Field(path, _parse_bool_yes_no, lambda v: "yes" if v else "no")


def on_off(path: str) -> Field[bool]:
    return Field(path, _parse_bool_yes_no, lambda v: "on" if v else "off")


def iter_tags(node: etree._Element) -> Iterator[str]:
    for child in node:
        if isinstance(child.tag, str):
            yield child.tag
