"""Hostile input through the API: refused with a problem body, and nothing half-made.

The hardening issue's hostile suite (tests/unit/hostile, tests/integration/
hostile) sent these through the CLI and the engine; here they cross real
HTTP: names that climb out of a directory or carry NUL, a body too large,
wrong types, sizes past any bound, unknown keys, paths outside every storage
pool, a DOCTYPE with entities in an edit, snapshot names with '/'. Each is a
4xx problem (application/problem+json, a code, one sentence, no traceback)
and leaves no VM, no file, no lock and no running operation behind. Where
the hostile suite holds its cases in a parametrize list, the list is read
from it rather than copied.

The last test is the promise of the API issue: an operator's token never
makes virtdeck read or write a host file outside the storage pools, through
any route that takes a path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import libvirt
import pytest
import yaml

from tests.service.live_server import LiveServer
from tests.service.vms import own_vm
from tests.unit.hostile import test_names_locks as unit_names
from tests.unit.hostile import test_output_input as unit_input

pytestmark = pytest.mark.hostile

TEST_URI = "test:///default"
API = "/api/v1"
PROBLEM = "application/problem+json"


def _parametrized(test: Callable[..., object], *argnames: str) -> list[Any]:
    """The values a hostile-suite test is parametrized with (its cases, not a copy of them)."""
    for mark in getattr(test, "pytestmark", []):
        names = mark.args[0] if mark.name == "parametrize" else ()
        if isinstance(names, str):
            names = tuple(n.strip() for n in names.split(","))
        if tuple(names) == argnames:
            one = len(argnames) == 1
            # A pytest.param holds its values as a tuple, one argument's or several.
            values = [
                (v.values[0] if one else v.values) if hasattr(v, "values") else v
                for v in mark.args[1]
            ]
            return values if one else [tuple(v) for v in values]
    raise LookupError(f"{test.__name__} is not parametrized over {argnames}")


# The hostile suite's names, and what HTTP adds: encoded dots and slashes, a
# name past any limit, characters a URL must escape. An empty name is no
# route at all here (the router answers it; test_http_shapes covers that).
HOSTILE_NAMES = [
    n for n in _parametrized(unit_names.test_a_hostile_name_is_refused_before_any_file, "name") if n
] + ["../../etc", "..", "x" * 20_000, "tab\tx", "\u202eevil", "a\\b"]
# Names no VM has that are still valid names: an answer of 404, never more.
UNICODE_NAMES = ["été", "\U0001f4a9", "名前"]


def problem(answer: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """The answer is a 4xx problem: its media type, code, one sentence and no internals."""
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:500])
    if status is not None:
        assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith(PROBLEM), answer.headers
    body: dict[str, Any] = answer.json()
    assert body["status"] == answer.status_code
    assert isinstance(body["code"], str) and body["code"]
    assert body["type"] == f"urn:virtdeck:problem:{body['code']}"
    detail = body["detail"]
    assert isinstance(detail, str) and detail
    assert "\n" not in detail and len(detail) < 1000, detail
    for internal in ("Traceback", 'File "', "libvirt.libvirtError", "pydantic"):
        assert internal not in answer.text, answer.text[:500]
    return body


@dataclass
class Host:
    domains: set[str]
    operations: set[int]
    locks: set[Path]


def _host(api: LiveServer) -> Host:
    conn = libvirt.open(TEST_URI)
    try:
        domains = {dom.name() for dom in conn.listAllDomains(0)}
    finally:
        conn.close()
    operations = {op.id for op in api.engine.list_operations(1000)}
    locks = set((api.engine.settings.data_dir / "locks").glob("*"))
    return Host(domains, operations, locks)


@contextlib.contextmanager
def nothing_made(api: LiveServer) -> Iterator[None]:
    """No VM defined or removed, no operation started (none left running), no lock left."""
    before = _host(api)
    yield
    after = _host(api)
    assert after.domains == before.domains
    new = [op for op in api.engine.list_operations(1000) if op.id not in before.operations]
    assert new == [], [(op.kind, op.target, op.state) for op in new]
    assert after.locks <= before.locks
    assert not Path("/tmp/vdt-escape.lock").exists()


def _segment(name: str) -> str:
    """``name`` as one path segment: every dot too, so that '..' is not a step up."""
    return quote(name, safe="").replace(".", "%2E")


# -- names in paths -------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:24])
def test_a_hostile_name_in_a_path_is_refused(api: LiveServer, name: str) -> None:
    with api.client(api.admin_token) as http, nothing_made(api):
        seg = _segment(name)
        for method, path in (
            ("GET", f"{API}/vms/{seg}"),
            ("DELETE", f"{API}/vms/{seg}?force=true"),
            ("POST", f"{API}/vms/{seg}/start"),
            ("POST", f"{API}/vms/{seg}/stop"),
            ("PUT", f"{API}/vms/{seg}/xml"),
            ("POST", f"{API}/vms/{seg}/snapshots"),
            ("POST", f"{API}/vms/{seg}/rename"),
            ("GET", f"{API}/vms/{seg}/history"),
        ):
            body = problem(http.request(method, path, json={}))
            assert body["code"] in ("invalid_input", "not_found", "precondition_failed"), body


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_a_unicode_name_no_vm_has_is_not_found(api: LiveServer, name: str) -> None:
    with api.client(api.admin_token) as http, nothing_made(api):
        body = problem(http.get(f"{API}/vms/{_segment(name)}"), 404)
        assert name in body["detail"]
        problem(http.post(f"{API}/vms/{_segment(name)}/start"), 404)


def test_raw_traversal_and_nul_in_the_url_are_refused(api: LiveServer) -> None:
    with api.client(api.admin_token) as http, nothing_made(api):
        for raw in ("..%2F..%2Fetc", "..%2f..%2fetc%2fshadow", "a%00b", "%00", "%2e%2e%2F"):
            problem(http.get(f"{API}/vms/{raw}"))
            problem(http.delete(f"{API}/vms/{raw}"))
            problem(http.post(f"{API}/vms/{raw}/start"))


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, ""], ids=lambda n: repr(n)[:24])
def test_a_hostile_name_to_create_is_refused(api: LiveServer, name: str) -> None:
    with api.client(api.admin_token) as http, nothing_made(api):
        body = problem(http.post(f"{API}/vms", json={"name": name}), 422)
        # A NUL is refused before the body is read (limits.NoNul), field or no field.
        assert body.get("field") == "name" or "NUL character" in body["detail"], body


# -- bodies ---------------------------------------------------------------------


def test_a_10_mib_body_is_413_and_makes_nothing(api: LiveServer) -> None:
    padding = " " * (10 * 2**20)
    text = '{"name": "big-body-vm",' + padding + '"cpus": 1}'
    with api.client(api.admin_token) as http, nothing_made(api):
        problem(
            http.post(f"{API}/vms", content=text, headers={"content-type": "application/json"}), 413
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
            yield text[:1000].encode()
            for _ in range(10):
                yield b" " * 2**20

        problem(
            http.post(f"{API}/vms", content=chunks(), headers={"content-type": "application/json"}),
            413,
        )
        problem(http.put(f"{API}/vms/test/xml", content=text, headers={"If-Match": '"x"'}), 413)


# (path, body, the field the problem names)
BAD_BODIES: list[tuple[str, object, str | None]] = [
    ("/vms", {"name": 5}, "name"),
    ("/vms", {"name": "h-types", "cpus": "two"}, "cpus"),
    ("/vms", {"name": "h-types", "cpus": True, "import_disk": "/nonexistent"}, None),
    ("/vms", {"name": "h-types", "memory_bytes": -1}, "memory_bytes"),
    ("/vms", {"name": "h-types", "memory_bytes": 1e30}, "memory_bytes"),
    ("/vms", {"name": "h-types", "memory_bytes": 2**80}, "memory_bytes"),
    ("/vms", {"name": "h-types", "cpus": 10**9}, "cpus"),
    ("/vms", {"name": "h-types", "cpus": -1}, "cpus"),
    ("/vms", {"name": "h-types", "disk_size_bytes": -5, "iso": "/x.iso"}, None),
    ("/vms", {"name": "h-types", "networks": "default"}, "networks"),
    ("/vms", {"name": "h-types", "ssh_keys": [1, 2]}, None),
    ("/vms", {"name": "h-types", "unknown_key": 1}, "unknown_key"),
    ("/vms", {"name": "h-types", "memory": "1G"}, "memory"),
    ("/vms", [], None),
    ("/vms", "a string", None),
    ("/vms", None, None),
    ("/plan", {"name": "h-types", "cpus": 1, "extra": True}, "extra"),
    ("/apply", {"name": "h-types", "memory": -1}, "memory"),
    ("/users", {"name": "u", "role": "root", "password": "x" * 12}, "role"),
    ("/tokens", {"name": "t", "expires_days": 10**12}, "expires_days"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_BODIES, ids=lambda v: str(v)[:30])
def test_a_body_of_wrong_types_sizes_or_keys_is_refused(
    api: LiveServer, path: str, body: object, field: str | None
) -> None:
    users = {u.name for u in api.engine.list_users()}
    with api.client(api.admin_token) as http, nothing_made(api):
        sent = http.post(
            API + path, content=json.dumps(body), headers={"content-type": "application/json"}
        )
        refused = problem(sent, 422)
        if field is not None:
            assert refused.get("field") == field, refused
    assert {u.name for u in api.engine.list_users()} == users


def test_device_bodies_out_of_range_are_refused(api: LiveServer) -> None:
    with own_vm("hbody") as [name], api.client(api.admin_token) as http, nothing_made(api):
        before = http.get(f"{API}/vms/{name}").json()
        for path, body in (
            ("cpus", {"count": -1}),
            ("cpus", {"count": 10**9}),
            ("cpus", {"count": "2"}),
            ("cpus", {"count": 2, "sideways": True}),
            ("max-cpus", {"count": 2**40}),
            ("memory", {"size_bytes": -1}),
            ("memory", {"size_bytes": 1e30}),
            ("max-memory", {"size_bytes": 2**70}),
        ):
            problem(http.put(f"{API}/vms/{name}/{path}", json=body), 422)
        for body in ({"size_bytes": 0}, {"size_bytes": 2**70}, {"size_bytes": -1}, {"nope": 1}):
            problem(http.post(f"{API}/vms/{name}/disks", json=body), 422)
        after = http.get(f"{API}/vms/{name}").json()
        assert after == before


@pytest.mark.parametrize(
    ("text", "needle"), _parametrized(unit_input.test_the_spec_is_strict, "text", "needle")
)
def test_the_hostile_suites_strict_specs_are_refused_over_http(
    api: LiveServer, text: str, needle: str
) -> None:
    spec = yaml.safe_load(text)
    with api.client(api.admin_token) as http, nothing_made(api):
        for route in ("/plan", "/apply"):
            body = problem(http.post(API + route, json=spec), 422)
            assert str(body.get("field")).split(".")[0] in (*spec, "None"), body


def test_ids_past_what_the_store_holds_are_refused_not_500(api: LiveServer) -> None:
    """A 32-bit INTEGER column on PostgreSQL: 2**31 once failed in the database (500)."""
    with own_vm("hint32") as [name], api.client(api.admin_token) as http, nothing_made(api):
        for big in (2**31, 2**40, 2**63 - 1):
            problem(http.get(f"{API}/operations/{big}"), 422)
            problem(http.delete(f"{API}/operations/{big}"), 422)
            problem(http.get(f"{API}/audit", params={"after": big}), 422)
            problem(http.get(f"{API}/vms/{name}/history/{big}"), 422)
            problem(http.post(f"{API}/vms/{name}/restore", json={"version": big}), 422)
        problem(http.get(f"{API}/operations/{2**31 - 1}"), 404)


# -- XML and snapshots ------------------------------------------------------------

BILLION_LAUGHS_XML = (
    '<?xml version="1.0"?><!DOCTYPE domain ['
    '<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)


def test_an_edit_with_a_doctype_or_entities_is_refused(api: LiveServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    with own_vm("hxml") as [name], api.client(api.admin_token) as http, nothing_made(api):
        read = http.get(f"{API}/vms/{name}/xml", params={"inactive": True})
        xml, etag = read.json()["xml"], read.headers["etag"]
        with_title = xml.replace("</uuid>", "</uuid>\n  <title>&lol9;</title>", 1)
        external = f'<!DOCTYPE domain [<!ENTITY x SYSTEM "file://{secret}">]>' + xml.replace(
            "</uuid>", "</uuid>\n  <title>&x;</title>", 1
        )
        for hostile in (BILLION_LAUGHS_XML + with_title, external):
            problem(
                http.put(
                    f"{API}/vms/{name}/xml", json={"xml": hostile}, headers={"If-Match": etag}
                ),
                422,
            )
        now = http.get(f"{API}/vms/{name}/xml", params={"inactive": True})
        assert now.headers["etag"] == etag
        assert "TOP-SECRET" not in now.text and "lol" not in now.text


SNAPSHOT_NAMES = ["a/b", "../x", "../../../../tmp/vdt-escape", "nul\x00x", "x" * 300, "."]


def test_snapshot_names_with_a_slash_or_worse_are_refused(api: LiveServer) -> None:
    with own_vm("hsnap") as [name], api.client(api.admin_token) as http, nothing_made(api):
        for snap in SNAPSHOT_NAMES:
            problem(http.post(f"{API}/vms/{name}/snapshots", json={"name": snap}), 422)
            seg = _segment(snap)
            problem(http.get(f"{API}/vms/{name}/snapshots/{seg}"))
            problem(http.delete(f"{API}/vms/{name}/snapshots/{seg}"))
            problem(http.post(f"{API}/vms/{name}/snapshots/{seg}/revert"))
        assert http.get(f"{API}/vms/{name}/snapshots").json() == []


# -- files outside the pools ----------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    digest: str
    mtime_ns: int
    atime_ns: int


def _seen(path: Path) -> Seen:
    """How the file is: its times first, from a stat, then its content (that read moves atime)."""
    st = path.stat()
    return Seen(hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_atime_ns)


VICTIM = b"QFI\xfb" + b"victim" * 1000


def victim_digest() -> str:
    return hashlib.sha256(VICTIM).hexdigest()


@contextlib.contextmanager
def outside_the_pools(api: LiveServer) -> Iterator[tuple[Path, list[str]]]:
    """A directory outside every pool with a file in it, and hostile paths to reach files.

    The file's access time is set before its change time, so a read would
    move it (relatime): "untouched" then means not even read. A symlink
    inside the allowed directory points out to it.
    """
    allowed = Path(api.engine.settings.allowed_dirs[0])
    with tempfile.TemporaryDirectory(prefix="vd-outside-", dir="/var/tmp") as tmp:
        outside = Path(tmp)
        assert not outside.is_relative_to(allowed)
        victim = outside / "victim.qcow2"
        victim.write_bytes(VICTIM)
        st = victim.stat()
        os.utime(victim, ns=(st.st_mtime_ns - 10**10, st.st_mtime_ns))
        link = Path(tempfile.mkdtemp(prefix="vd-link-", dir=allowed)) / "link.qcow2"
        link.symlink_to(victim)
        climb = str(allowed / ("../" * 12)) + str(victim).lstrip("/")
        paths = [
            str(victim),
            "/etc/shadow",
            "/etc/passwd",
            str(link),
            climb,
            str(outside / "new.qcow2"),  # a file that is not there must not be made
            "relative/../../../etc/passwd",
        ]
        try:
            yield outside, paths
        finally:
            link.unlink()


def _request_path_fields(api: LiveServer) -> set[str]:
    """Every field of a request body in the OpenAPI document that can name a host file."""
    doc = httpx.get(api.url + "/api/openapi.json").json()
    schemas = doc["components"]["schemas"]
    bodies = set()
    for ops in doc["paths"].values():
        for op in ops.values():
            content = op.get("requestBody", {}).get("content", {})
            for media in content.values():
                ref = media.get("schema", {}).get("$ref", "")
                for choice in media.get("schema", {}).get("anyOf", []):
                    ref = ref or choice.get("$ref", "")
                if ref:
                    bodies.add(ref.rsplit("/", 1)[1])
    fields = set()
    for body in bodies:
        for key, prop in schemas[body].get("properties", {}).items():
            types = json.dumps(prop)
            if '"string"' in types and (
                key in ("path", "image", "import_disk", "iso", "file", "source", "disk")
                or key.endswith(("_path", "_file", "_dir", "_image"))
            ):
                fields.add(f"{body.removesuffix('-Input')}.{key}")
    return fields


# Each field of a request that names a host file; the test below sends each one.
PATH_FIELDS = {
    "VmCreateBody.image",
    "VmCreateBody.import_disk",
    "VmCreateBody.iso",
    "VmSpec.image",
    "VmSpec.import_disk",
    "DiskAddBody.path",
}


def test_an_operator_reads_or_writes_no_host_file_outside_the_pools(api: LiveServer) -> None:
    # A new request field that names a file fails here until this test sends it hostile paths.
    assert _request_path_fields(api) == PATH_FIELDS
    token = api.token_for("hostile-operator", "operator")
    host_files = [Path("/etc/passwd"), Path("/etc/shadow")]
    with (
        own_vm("hpath", start=True) as [name],
        outside_the_pools(api) as (outside, paths),
        api.client(token) as http,
        nothing_made(api),
    ):
        victim = outside / "victim.qcow2"
        watched = [victim, *host_files]
        # The victim is read only at the end, by _seen: a read now would move its atime.
        st = victim.stat()
        before = {p: _seen(p) for p in host_files}
        before[victim] = Seen(victim_digest(), st.st_mtime_ns, st.st_atime_ns)
        listing = sorted(outside.iterdir())
        disks = http.get(f"{API}/vms/{name}/disks").json()
        for path in paths:
            creates = (
                {"image": path},
                {"image": path, "full_copy": True},
                {"import_disk": path},
                {"iso": path, "disk_size_bytes": 2**30},
            )
            for i, extra in enumerate(creates):
                body = {"name": f"hpath-new-{i}", "networks": [], **extra}
                problem(http.post(f"{API}/vms", json=body), 422)
            for key in ("image", "import_disk"):
                spec = {"name": "hpath-spec", key: path}
                # A plan reads nothing and checks no path (the apply does): any answer, no read.
                assert http.post(f"{API}/plan", json=spec).status_code < 500
                problem(http.post(f"{API}/apply", json=spec), 422)
                # An existing VM: the key is not used, and must not be read either.
                assert http.post(f"{API}/apply", json={"name": name, key: path}).status_code < 500
            for flags in ({"config": True}, {"live": True}, {}):
                problem(http.post(f"{API}/vms/{name}/disks", json={"path": path, **flags}))
            # The screenshot's file is the server's own: a client cannot name one.
            shot = http.get(f"{API}/vms/{name}/screenshot", params={"path": path, "file": path})
            assert shot.status_code < 500, shot.text
        assert http.get(f"{API}/vms/{name}/disks").json() == disks
        assert sorted(outside.iterdir()) == listing
        for p in watched:
            assert _seen(p) == before[p], p
