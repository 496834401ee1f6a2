"""crm-admin: workspaces and accounts stored by the timeline API and published on config."""

import json

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from pymongo import AsyncMongoClient, MongoClient

from crm_runtime.secrets import SecretBox
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from timeline_api.entrypoints.admin import AdminError, connect_account, create_workspace, main
from timeline_api.settings import TimelineSettings

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-imap-password"


async def _config_events(settings: TimelineSettings, expected: int) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        settings.topics.config,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[dict[str, object]] = []
        while len(found) < expected:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            found += [json.loads(r.value) for records in batch.values() for r in records]
        return found
    finally:
        await consumer.stop()


async def test_a_workspace_and_its_account_are_stored_and_published(
    settings: TimelineSettings, unique: str
) -> None:
    name = f"Acme {unique}"
    ws = await create_workspace(settings, name, ["Acme.test", "acme.test"])
    assert await create_workspace(settings, name, ["acme.test"]) == ws  # idempotent

    account = await connect_account(
        settings,
        workspace_id=ws,
        email="Owner@Acme.test",
        imap_host="127.0.0.1",
        imap_port=10143,
        imap_tls="none",
        username="owner",
        password=SecretStr(PASSWORD),
        caldav_url="http://127.0.0.1:15232/",
        visibility="full",
        contact_creation="sent_and_received",
    )

    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongo_url.get_secret_value()
    )
    try:
        db = mongo[settings.mongo_db]
        stored = await db["accounts"].find_one({"_id": account})
        assert stored is not None
        assert PASSWORD not in json.dumps(stored, default=str)
        configured = AccountConfigured.model_validate(stored)
        assert configured.imap is not None
        box = SecretBox(settings.secrets_key)
        assert box.open(configured.imap.password_encrypted).get_secret_value() == PASSWORD
        assert configured.mail.visibility == "full"
        assert configured.email == "owner@acme.test"
        workspace = await db["workspaces"].find_one({"_id": ws})
        assert workspace is not None
        assert workspace["domains"] == ["acme.test"]
        events = await _config_events(settings, expected=3)
    finally:
        await mongo.drop_database(settings.mongo_db)
        await mongo.close()

    # keyed by their own ids, so on different partitions: no order across them
    workspaces = [WorkspaceConfigured.model_validate(e) for e in events if e["type"] == "workspace"]
    accounts = [AccountConfigured.model_validate(e) for e in events if e["type"] == "account"]
    assert [w.workspace_id for w in workspaces] == [ws, ws]
    assert [a.account_id for a in accounts] == [account]


async def test_an_account_needs_an_existing_workspace(settings: TimelineSettings) -> None:
    with pytest.raises(AdminError, match="no workspace"):
        await connect_account(
            settings,
            workspace_id="missing",
            email="a@acme.test",
            imap_host="127.0.0.1",
            imap_port=993,
            imap_tls="ssl",
            username="a",
            password=SecretStr("x"),
        )


def test_the_cli_prints_only_the_id_and_reads_the_password_from_the_environment(
    settings: TimelineSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for field in ("kafka_bootstrap", "topic_prefix", "group_prefix", "mongo_db"):
        monkeypatch.setenv(f"TIMELINE_{field.upper()}", str(getattr(settings, field)))
    monkeypatch.setenv("TIMELINE_MONGO_URL", settings.mongo_url.get_secret_value())
    monkeypatch.setenv("IMAP_PASSWORD", PASSWORD)

    try:
        _run_cli()
    finally:
        sync_mongo: MongoClient[dict[str, object]] = MongoClient(
            settings.mongo_url.get_secret_value()
        )
        with sync_mongo:
            sync_mongo.drop_database(settings.mongo_db)

    out, err = capsys.readouterr()
    lines = out.split()
    assert lines[0] == "ws-cli"
    assert len(lines) == 2
    assert PASSWORD not in out + err


def _run_cli() -> None:
    main(["create-workspace", "--name", "Cli", "--domain", "cli.test", "--id", "ws-cli"])
    main(
        [
            "connect-account", "--workspace", "ws-cli", "--email", "me@cli.test",
            "--imap-host", "127.0.0.1", "--imap-port", "10143", "--imap-tls", "none",
            "--username", "me", "--password-env", "IMAP_PASSWORD",
        ]
    )  # fmt: skip
