"""Reading a YAML spec without trusting it: PyYAML's SafeLoader, with limits.

``yaml.safe_load`` refuses Python objects but not size: a ten-line "billion
laughs" document (nine anchors of nine aliases each) describes 9**9 strings,
and anything that walks or prints the result (a ``repr`` in an error message)
grows to gigabytes. A spec is a dozen keys, so this loader refuses early and
in one sentence that says where:

- a document over ``SPEC_MAX_BYTES`` (256 KiB), before it is parsed;
- more than ``ALIASES_MAX`` aliases (``*name``), and nesting deeper than
  ``DEPTH_MAX``, while it is composed (before anything is built);
- a key given twice in one mapping (PyYAML silently keeps the last one);
- more than one document (a second ``---``);
- a number too long to be one, and a value PyYAML cannot build (a date such
  as 2001-13-45), which would otherwise escape as a Python traceback.

Only the spec commands import this module (it imports PyYAML at once);
``spec_plan.load_spec`` imports it when called, so the CLI starts without it.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from virtdeck.model import clip, quote

from .schemas import SPEC_MAX_BYTES

ALIASES_MAX = 50
DEPTH_MAX = 32
# The longest integer literal accepted: far beyond any count or size, far
# below Python's limit for converting digits to an int (4300).
INT_MAX_CHARS = 40
_MERGE_TAG = "tag:yaml.org,2002:merge"


class SpecYamlError(Exception):
    """A YAML document refused; the message says why and at which line.

    It reads as the rest of a sentence that starts with the spec's name:
    "vm.yaml has more than 50 aliases ...".
    """


def _line(node_or_event: Any) -> int:
    mark = getattr(node_or_event, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 0


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and depth, and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def _event(self, peek: bool = False) -> Any:
        # PyYAML's stubs leave these untyped.
        if peek:
            return self.peek_event()  # type: ignore[no-untyped-call]
        return self.get_event()  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > ALIASES_MAX:
                line = _line(self._event(peek=True))
                raise SpecYamlError(
                    f"has more than {ALIASES_MAX} aliases (*name), the {ALIASES_MAX + 1}st at "
                    f"line {line}; a spec needs none, write the values out"
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > DEPTH_MAX:
                line = _line(self._event(peek=True))
                raise SpecYamlError(
                    f"is nested more than {DEPTH_MAX} levels deep at line {line}; "
                    "a spec is one mapping of plain values and lists"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Node | None:
        # PyYAML's own, with a sentence instead of "expected a single document".
        self._event()  # STREAM-START
        document = None
        if not self.check_event(yaml.StreamEndEvent):
            document = self.compose_document()
        if not self.check_event(yaml.StreamEndEvent):
            line = _line(self._event())
            raise SpecYamlError(
                f"holds more than one YAML document (the second starts at line {line}); "
                "give one VM per spec, without a second '---'"
            )
        self._event()  # STREAM-END
        return document

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            # e.g. a date that is none (2001-13-45): PyYAML lets datetime's
            # ValueError through, not a YAMLError.
            raise SpecYamlError(
                f"has a value at line {_line(node)} that cannot be read ({clip(str(exc))})"
            ) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: PyYAML refuses it below
            if first is not None:
                raise SpecYamlError(
                    f"gives the key {quote(key)} twice (lines {first} and "
                    f"{_line(key_node)}); keep one"
                )
            seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: yaml.SafeLoader, node: Node) -> Any:
    assert isinstance(node, ScalarNode)
    if len(node.value) > INT_MAX_CHARS:
        raise SpecYamlError(
            f"has a number of {len(node.value)} characters at line {_line(node)}; "
            f"no count or size in a spec needs more than {INT_MAX_CHARS}"
        )
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_SpecLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_document(text: str) -> Any:
    """The one YAML document in ``text``, built with the limits above."""
    if len(text) > SPEC_MAX_BYTES or len(text.encode("utf-8")) > SPEC_MAX_BYTES:
        raise SpecYamlError(
            f"is larger than {SPEC_MAX_BYTES // 1024} KiB; a spec is a few lines of YAML"
        )
    loader = _SpecLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecYamlError(f"is not valid YAML{where}; fix the YAML syntax there") from None
    finally:
        loader.dispose()
