"""Typed binding between Python attributes and libvirt XML.

A model class wraps one lxml element and edits it in place, so everything it
does not model (unknown elements, attributes, comments) survives a round
trip. Fields are descriptors bound to a relative XPath of the simple form
``./a/b`` (element text) or ``./a/b/@attr`` (attribute); missing elements
are created on assignment, in the parent's declared child order, and removed
again when set to ``None`` and left empty.

Sub-elements that are classes of their own (``<driver>``, ``<target>``, ...)
are bound with ``Child`` (optional), ``LazyChild`` (reads as empty when
missing) and ``Children`` (a list); ``Child.field`` reaches one value inside
such a child. Reading never changes the tree: a missing child is created
only when something is written to it, at its place in ``CHILD_ORDER``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

from lxml import etree

T = TypeVar("T")
V = TypeVar("V")
E = TypeVar("E", bound="XmlElement")

_PARSER = etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True)
# A str is encoded to UTF-8 before parsing, so its bytes are UTF-8 whatever its
# XML declaration says (encoding="ISO-8859-1" would otherwise garble non-ASCII).
_STR_PARSER = etree.XMLParser(
    remove_blank_text=False, resolve_entities=False, no_network=True, encoding="utf-8"
)


class XmlError(ValueError):
    """The XML text is not well formed or not the expected element."""


class InvalidElement(ValueError):
    """A modelled element that libvirt would refuse; the message says what to set."""

    def __init__(self, tag: str, problem: str) -> None:
        super().__init__(f"<{tag}> {problem}")
        self.tag = tag


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
        self._node = node
        # Set on a view of a child that is missing from its parent: the view
        # reads as empty, and attach() puts it in the tree on the first write.
        self._pending: _Pending | None = None

    @classmethod
    def _view(cls, pending: _Pending) -> Self:
        view = cls()
        view._pending = pending
        return view

    @property
    def node(self) -> etree._Element:
        """The wrapped element; a view of a missing child has a detached, empty one.

        Edit a view through its fields (or call ``attach()`` first): changes
        made to the detached element directly do not reach the tree.
        """
        pending = self._pending
        if pending is not None:
            found = pending.find()
            if found is not None:  # another wrapper created it meanwhile
                self._node, self._pending = found, None
        return self._node

    @property
    def is_attached(self) -> bool:
        """False for a view of a child that nothing has been written to yet."""
        _ = self.node  # resolves a view whose child another wrapper created meanwhile
        return self._pending is None

    def attach(self) -> Self:
        """Put a view of a missing child into its parent (every write does this first)."""
        pending = self._pending
        if pending is not None:
            self._node, self._pending = pending.create(), None
        return self

    def is_empty(self) -> bool:
        """No attributes, no children, no text: nothing libvirt would miss."""
        node = self.node
        return not (len(node) or node.attrib or (node.text and node.text.strip()))

    def validate(self) -> None:
        """Raise InvalidElement for the first value libvirt would refuse.

        Each class checks its own values and those of the children it models;
        an element with nothing to check passes.
        """

    def add_child(self, child: E) -> E:
        """Insert ``child`` at its place in ``CHILD_ORDER`` (after its own kind)."""
        self.attach()
        insert_ordered(self.node, child.node, self.CHILD_ORDER)
        return child

    def remove_child(self, child: XmlElement) -> None:
        if child.node.getparent() is self.node:
            self.node.remove(child.node)

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
        self.attach()
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


class _Pending:
    """Where a view of a missing child belongs: found there, or created there."""

    def __init__(self, parent: XmlElement, tag: str) -> None:
        self.parent = parent
        self.tag = tag

    def find(self) -> etree._Element | None:
        return self.parent.node.find(self.tag)

    def create(self) -> etree._Element:
        found = self.parent.attach().node.find(self.tag)
        if found is not None:
            return found
        node = etree.Element(self.tag)
        insert_ordered(self.parent.node, node, self.parent.CHILD_ORDER)
        return node


class _ChildBase(Generic[E]):
    """One direct sub-element modelled by ``cls``, found by its tag."""

    def __init__(self, cls: type[E]) -> None:
        self.cls = cls
        self.tag = cls.TAG

    def find(self, obj: XmlElement) -> E | None:
        node = obj.node.find(self.tag)
        return None if node is None else self.cls(node)

    def ensure(self, obj: XmlElement) -> E:
        """The child, created at its place in the parent's order when missing."""
        return self.cls._view(_Pending(obj, self.tag)).attach()

    def view(self, obj: XmlElement) -> E:
        """The child, or an empty view of it that joins the tree on its first write."""
        found = self.find(obj)
        return found if found is not None else self.cls._view(_Pending(obj, self.tag))

    def field(self, inner: Field[V]) -> ChildField[V]:
        """A field of this child, read and written from the parent."""
        return ChildField(self, inner)

    def __set__(self, obj: XmlElement, value: E | None) -> None:
        old = obj.node.find(self.tag)
        if value is None:
            if old is not None:
                obj.node.remove(old)
            return
        if old is not None:
            obj.node.replace(old, value.node)  # keeps the place the old one had
        else:
            obj.add_child(value)


class Child(_ChildBase[E]):
    """An optional sub-element: ``None`` when missing, and reading creates nothing."""

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XmlElement, owner: type[Any]) -> E | None: ...
    def __get__(self, obj: XmlElement | None, owner: type[Any]) -> Self | E | None:
        return self if obj is None else self.find(obj)


class LazyChild(_ChildBase[E]):
    """A sub-element that reads as empty when missing and is created on its first write."""

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XmlElement, owner: type[Any]) -> E: ...
    def __get__(self, obj: XmlElement | None, owner: type[Any]) -> Self | E:
        return self if obj is None else self.view(obj)


class Children(Generic[E]):
    """Every direct sub-element of one kind, in document order; ``[]`` when there is none.

    Assigning a list replaces them all, each new one at its place in the
    parent's order.
    """

    def __init__(self, cls: type[E]) -> None:
        self.cls = cls
        self.tag = cls.TAG

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XmlElement, owner: type[Any]) -> list[E]: ...
    def __get__(self, obj: XmlElement | None, owner: type[Any]) -> Self | list[E]:
        if obj is None:
            return self
        return [self.cls(node) for node in obj.node.findall(self.tag)]

    def __set__(self, obj: XmlElement, items: list[E]) -> None:
        for old in obj.node.findall(self.tag):
            obj.node.remove(old)
        for item in items:
            obj.add_child(item)


class ChildField(Field[V]):
    """A value inside a modelled child (``Disk.format`` is ``<driver type>``).

    Reading a missing child gives ``None``; writing creates the child in
    order; clearing the last value of a child removes the emptied child.
    """

    def __init__(self, child: _ChildBase[Any], inner: Field[V]) -> None:
        path = f"./{child.tag}/{inner.path.removeprefix('./')}"
        super().__init__(path, inner._parse, inner._render)
        self.child = child
        self.inner = inner

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XmlElement, owner: type[Any]) -> V | None: ...
    def __get__(self, obj: XmlElement | None, owner: type[Any]) -> Self | V | None:
        if obj is None:
            return self
        found = self.child.find(obj)
        return None if found is None else self.inner.__get__(found, type(found))

    def __set__(self, obj: XmlElement, value: V | None) -> None:
        if value is None:
            found = self.child.find(obj)
            if found is not None:
                self.inner.__set__(found, None)
                if found.is_empty():
                    obj.remove_child(found)
            return
        self.inner.__set__(self.child.ensure(obj), value)


class Flag:
    """An empty marker element such as ``<readonly/>``: True when present."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: XmlElement, owner: type[Any]) -> bool: ...
    def __get__(self, obj: XmlElement | None, owner: type[Any]) -> Self | bool:
        if obj is None:
            return self
        return obj.node.find(self.tag) is not None

    def __set__(self, obj: XmlElement, value: bool) -> None:
        found = obj.node.find(self.tag)
        if value and found is None:
            obj.attach()
            # <readonly/>, as libvirt writes it, not <readonly></readonly>
            insert_ordered(obj.node, etree.Element(self.tag), obj.CHILD_ORDER)
        elif not value and found is not None:
            obj.node.remove(found)


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
