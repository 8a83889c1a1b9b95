"""The stand-in OpenMetadata API itself, and the sink's generic PUT (stored procedures).

The stand-in is what the metadata-rest tests trust, so its documented behaviours are checked
here with a plain HTTP client: token, schema validation, create-or-update versions, parents,
soft delete, restore, paging.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from metaingest.config import parse_config
from metaingest.entities import Database, DatabaseSchema, Table
from metaingest.errors import ConfigError
from metaingest.openmetadata.client import OpenMetadataClient
from metaingest.openmetadata.push import Pusher
from metaingest.report import Issue, Report

from .omserver import OMServer

TOKEN = "t0ken"


@pytest.fixture
def om() -> Iterator[OMServer]:
    with OMServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def http(om: OMServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=om.url + "/v1", headers=headers, timeout=10) as client:
        yield client


def seed(http: httpx.Client) -> None:
    assert http.put("/services/databaseServices", json={"name": "svc", "serviceType": "Postgres"})
    assert http.put("/databases", json={"name": "db", "service": "svc"}).status_code == 201
    assert http.put("/databaseSchemas", json={"name": "s", "database": "svc.db"}).status_code == 201


def table(name: str, **extra: Any) -> dict[str, Any]:
    column = {"name": "id", "dataType": "INT"}
    return {"name": name, "columns": [column], "databaseSchema": "svc.db.s", **extra}


def test_token_and_version(om: OMServer, http: httpx.Client) -> None:
    assert http.get("/system/version").json()["version"] == "1.13.0"
    bare = httpx.get(om.url + "/v1/system/version", timeout=10)
    assert bare.status_code == 401
    wrong = httpx.get(om.url + "/v1/system/version", headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401


def test_bodies_are_validated_against_the_official_schema(om: OMServer, http: httpx.Client) -> None:
    seed(http)
    answer = http.put("/tables", json={"name": "t", "databaseSchema": "svc.db.s"})
    assert answer.status_code == 400 and "'columns' is a required property" in answer.text
    answer = http.put("/tables", json=table("t", tableType="Nope"))
    assert answer.status_code == 400 and "tableType" in answer.text
    assert om.invalid  # recorded, so the sink tests can assert it stays empty


def test_create_or_update_bumps_the_version_only_on_change(http: httpx.Client) -> None:
    seed(http)
    first = http.put("/tables", json=table("t"))
    assert (first.status_code, first.json()["version"]) == (201, 0.1)
    same = http.put("/tables", json=table("t"))
    assert (same.status_code, same.json()["version"]) == (200, 0.1)
    assert same.json()["id"] == first.json()["id"]
    changed = http.put("/tables", json=table("t", description="now described"))
    assert changed.json()["version"] == 0.2
    dotted = http.put("/tables", json=table("a.b"))
    assert dotted.json()["fullyQualifiedName"] == 'svc.db.s."a.b"'
    got = http.get('/tables/name/svc.db.s."a.b"')
    assert got.status_code == 200 and got.json()["name"] == "a.b"


def test_parents_must_exist(http: httpx.Client) -> None:
    answer = http.put("/databases", json={"name": "db", "service": "nowhere"})
    assert answer.status_code == 404 and "nowhere not found" in answer.json()["message"]
    seed(http)
    answer = http.put("/tables", json={**table("t"), "databaseSchema": "svc.db.missing"})
    assert answer.status_code == 404


def test_soft_delete_restore_and_recursive(om: OMServer, http: httpx.Client) -> None:
    seed(http)
    entity = http.put("/tables", json=table("t")).json()
    hard = http.delete(f"/tables/{entity['id']}", params={"hardDelete": "true"})
    assert hard.status_code == 400
    assert http.delete(f"/tables/{entity['id']}", params={"hardDelete": "false"}).status_code == 200
    assert http.get("/tables/name/svc.db.s.t").status_code == 404
    assert om.store.all("tables")["svc.db.s.t"] == {**entity, "deleted": True, "version": 0.2}
    restored = http.put("/tables/restore", json={"id": entity["id"]})
    assert restored.json()["deleted"] is False and restored.json()["version"] == 0.3
    schema = http.get("/databaseSchemas/name/svc.db.s").json()
    assert http.delete(f"/databaseSchemas/{schema['id']}").status_code == 400  # not empty
    answer = http.delete(f"/databaseSchemas/{schema['id']}", params={"recursive": "true"})
    assert answer.status_code == 200
    assert om.store.live("tables") == {} and om.store.live("databaseSchemas") == {}


def test_lists_filter_by_parent_and_page_with_after(http: httpx.Client) -> None:
    seed(http)
    for index in range(7):
        http.put("/tables", json=table(f"t{index}"))
    names: list[str] = []
    params: dict[str, Any] = {"databaseSchema": "svc.db.s", "limit": 3}
    pages = 0
    while True:
        page = http.get("/tables", params=params).json()
        pages += 1
        assert page["paging"]["total"] == 7
        names += [e["name"] for e in page["data"]]
        if "after" not in page["paging"]:
            break
        params["after"] = page["paging"]["after"]
    assert (names, pages) == ([f"t{i}" for i in range(7)], 3)
    assert http.get("/tables", params={"databaseSchema": "svc.db.other"}).json()["data"] == []


def test_faults_are_served_as_asked(om: OMServer, http: httpx.Client) -> None:
    om.inject("429", 1)
    om.inject("503", 1)
    first = http.get("/system/version")
    assert first.status_code == 429 and first.headers["Retry-After"] == "0"
    assert http.get("/system/version").status_code == 503
    om.inject("drop", 1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/system/version")
    assert http.get("/system/version").status_code == 200


@dataclass(frozen=True)
class Procedure:
    """A stored procedure as the depth branch's entity will offer it (fqn + payload)."""

    name: str
    schema_fqn: str
    code: str

    @property
    def fqn(self) -> str:
        return f"{self.schema_fqn}.{self.name}"

    def to_openmetadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "databaseSchema": self.schema_fqn,
            "storedProcedureCode": {"language": "SQL", "code": self.code},
        }


@dataclass(frozen=True)
class BatchWithProcedures:
    """A SchemaBatch with ``procedures`` (the field the depth branch adds)."""

    database: Database
    schema: DatabaseSchema
    tables: tuple[Table, ...]
    procedures: tuple[Procedure, ...]
    issues: tuple[Issue, ...] = field(default=())

    @property
    def fqn(self) -> str:
        return self.schema.fqn


@pytest.mark.anyio
async def test_stored_procedures_are_put_like_any_entity(om: OMServer) -> None:
    config = parse_config(
        {
            "source": {"type": "sqlite", "path": "unused.db"},
            "sink": {"type": "metadata-rest", "host_port": om.url, "jwt_token": TOKEN},
        }
    )
    assert config.sink.type == "metadata-rest"
    database = Database(name="db", service="svc")
    schema = DatabaseSchema(name="s", database=database.fqn)
    batch = BatchWithProcedures(
        database,
        schema,
        (Table(name="t", database_schema=schema.fqn),),
        (Procedure("p1", schema.fqn, "BEGIN END"), Procedure("p2", schema.fqn, "SELECT 1")),
    )
    report = Report()
    async with OpenMetadataClient(config.sink) as client:
        pusher = Pusher(
            client, config.sink, source_type="postgres", settings=config.workflow, report=report
        )
        with anyio.fail_after(20):
            await pusher.start()
            await pusher.write(batch)  # type: ignore[arg-type]
    assert report.errors == 0, report.issues
    assert set(om.store.live("storedProcedures")) == {"svc.db.s.p1", "svc.db.s.p2"}
    assert om.invalid == []
    assert om.requests[("PUT", "put storedProcedure")] == 2


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (openssl), as (certificate, key) files."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.mark.anyio
async def test_tls_is_verified_against_the_configured_ca(certificate: tuple[str, str]) -> None:
    with OMServer(token=TOKEN, tls=certificate) as server:
        assert server.url.startswith("https://")

        async def version(**sink: Any) -> str:
            config = parse_config(
                {
                    "source": {"type": "sqlite", "path": "unused.db"},
                    "sink": {"type": "metadata-rest", "host_port": server.url, **sink},
                }
            )
            assert config.sink.type == "metadata-rest"
            async with OpenMetadataClient(config.sink) as client:
                with anyio.fail_after(20):
                    return await client.version()

        with pytest.raises(ConfigError, match="TLS certificate verification failed"):
            await version(jwt_token=TOKEN)
        assert await version(jwt_token=TOKEN, ca_certificate=certificate[0]) == "1.13.0"
        assert await version(jwt_token=TOKEN, verify_ssl="ignore") == "1.13.0"
        with pytest.raises(ConfigError, match=r"sink\.jwt_token: the server refused the token"):
            await version(jwt_token="wrong", verify_ssl="ignore")
