"""crm-admin: workspaces and accounts stored by the timeline API and published on config."""

import json

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from pymongo import AsyncMongoClient, MongoClient

from crm_runtime.secrets import SecretBox, new_secrets_key
from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from timeline_api.entrypoints.admin import (
    AdminError,
    connect_account,
    create_workspace,
    main,
    rotate_account_secrets,
)
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


async def test_rotating_keys_reseals_every_account_and_the_old_key_can_then_go(
    settings: TimelineSettings, unique: str
) -> None:
    old_key, new_key = settings.secrets_key.get_secret_value(), new_secrets_key()
    ws = await create_workspace(settings, f"Rotate {unique}", ["rotate.test"])
    account = await connect_account(
        settings,
        workspace_id=ws,
        email="owner@rotate.test",
        imap_host="127.0.0.1",
        imap_port=10143,
        imap_tls="none",
        username="owner",
        password=SecretStr(PASSWORD),
        caldav_url="http://127.0.0.1:15232/",
    )
    rotating = settings.model_copy(update={"secrets_key": SecretStr(f"{new_key},{old_key}")})
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongo_url.get_secret_value()
    )
    try:
        assert await rotate_account_secrets(rotating) == {"accounts": 1, "resealed": 1}
        assert await rotate_account_secrets(rotating) == {"accounts": 1, "resealed": 0}
        stored = await mongo[settings.mongo_db]["accounts"].find_one({"_id": account})
        events = await _config_events(settings, expected=4)
    finally:
        await mongo.drop_database(settings.mongo_db)
        await mongo.close()

    configured = AccountConfigured.model_validate(stored)
    new_only = SecretBox(SecretStr(new_key))
    assert configured.imap is not None
    assert configured.caldav is not None
    assert new_only.open(configured.imap.password_encrypted).get_secret_value() == PASSWORD
    assert new_only.open(configured.caldav.password_encrypted).get_secret_value() == PASSWORD
    published = [AccountConfigured.model_validate(e) for e in events if e["type"] == "account"]
    assert published[-1].imap is not None  # every service's projection gets the new version
    assert new_only.open(published[-1].imap.password_encrypted).get_secret_value() == PASSWORD


async def test_a_secret_no_configured_key_opens_stops_the_rotation_with_what_to_do(
    settings: TimelineSettings, unique: str
) -> None:
    ws = await create_workspace(settings, f"Lost {unique}", ["lost.test"])
    await connect_account(
        settings,
        workspace_id=ws,
        email="owner@lost.test",
        imap_host="127.0.0.1",
        imap_port=10143,
        imap_tls="none",
        username="owner",
        password=SecretStr(PASSWORD),
    )
    unrelated = settings.model_copy(update={"secrets_key": SecretStr(new_secrets_key())})
    try:
        with pytest.raises(AdminError, match="add the key it was sealed with"):
            await rotate_account_secrets(unrelated)
    finally:
        sync_mongo: MongoClient[dict[str, object]] = MongoClient(
            settings.mongo_url.get_secret_value()
        )
        with sync_mongo:
            sync_mongo.drop_database(settings.mongo_db)


def test_a_new_secrets_key_is_printed_and_seals(capsys: pytest.CaptureFixture[str]) -> None:
    main(["new-secrets-key"])
    key = capsys.readouterr().out.strip()
    box = SecretBox(SecretStr(key))
    assert box.open(box.seal("x")).get_secret_value() == "x"
