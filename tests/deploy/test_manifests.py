"""deploy/k8s, rendered and checked offline: each overlay renders, every resource is valid
for its schema, and the deployment agrees with the code (groups, topics, settings).

Built-in kinds are validated by ``kubernetes-validate`` (strict, Kubernetes 1.33); KEDA
and Strimzi resources by their CRDs' JSON schemas, copied into deploy/k8s/schemas.
"""

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from crm_runtime.settings import ServiceSettings
from crm_schemas import groups
from crm_schemas.topics import Topics
from enricher.settings import EnricherSettings
from fetcher.settings import FetcherSettings
from matcher.settings import MatcherSettings
from tests.deploy.manifests import K8S, OVERLAYS, Rendered, render
from timeline_api.settings import TimelineSettings

KUBERNETES = "1.33"
CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh/scaledobject_v1alpha1.json",
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): "kafka.strimzi.io/kafkatopic_v1beta2.json",
}
# The kafka trigger's metadata keys, as KEDA's documentation of its Apache Kafka scaler
# lists them (v2.x); a misspelt key would be ignored by KEDA without a word.
KAFKA_TRIGGER_KEYS = {
    "bootstrapServers",
    "bootstrapServersFromEnv",
    "consumerGroup",
    "consumerGroupFromEnv",
    "topic",
    "topicFromEnv",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "partitionLimitation",
    "version",
    "sasl",
    "tls",
    "unsafeSsl",
}
SETTINGS: dict[str, type[ServiceSettings]] = {
    "fetcher": FetcherSettings,
    "matcher": MatcherSettings,
    "enricher": EnricherSettings,
    "timeline-api": TimelineSettings,
}


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return Rendered(request.param, render(request.param))


def prefix_of(settings: type[ServiceSettings]) -> str:
    return str(settings.model_config.get("env_prefix", ""))


# --- schemas -------------------------------------------------------------------------


def test_every_built_in_resource_is_valid_for_kubernetes_strictly(rendered: Rendered) -> None:
    built_in = [d for d in rendered.docs if (d["apiVersion"], d["kind"]) not in CUSTOM_SCHEMAS]
    assert {"Deployment", "Service", "Ingress", "ConfigMap", "NetworkPolicy"} <= {
        d["kind"] for d in built_in
    }
    for doc in built_in:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_keda_and_strimzi_resources_match_their_crd_schemas(rendered: Rendered) -> None:
    custom = [d for d in rendered.docs if (d["apiVersion"], d["kind"]) in CUSTOM_SCHEMAS]
    assert {"ScaledObject", "KafkaTopic"} <= {d["kind"] for d in custom}
    for doc in custom:
        path = K8S / "schemas" / CUSTOM_SCHEMAS[(doc["apiVersion"], doc["kind"])]
        jsonschema.validate(doc, json.loads(path.read_text()))


def test_a_kafka_triggers_metadata_has_only_known_keys_and_string_values(
    rendered: Rendered,
) -> None:
    for scaled in rendered.of_kind("ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["type"] == "kafka"
            metadata = trigger["metadata"]
            assert set(metadata) <= KAFKA_TRIGGER_KEYS, set(metadata) - KAFKA_TRIGGER_KEYS
            assert all(isinstance(v, str) for v in metadata.values()), metadata


def test_a_misspelt_trigger_key_would_be_caught() -> None:
    assert not {"lagTreshold"} <= KAFKA_TRIGGER_KEYS


# --- the deployment agrees with the code ----------------------------------------------


def scaled_consumers(config: dict[str, str]) -> dict[str, set[tuple[str, str]]]:
    """Each KEDA-scaled Deployment's (consumer group, topic) pairs, from the code's names."""
    topics = Topics(config["FETCHER_TOPIC_PREFIX"])
    group = lambda name: f"{config['FETCHER_GROUP_PREFIX']}.{name}"  # noqa: E731
    return {
        "fetcher": {(group(groups.FETCHER), topics.sync_requests)},
        "matcher": {
            (group(groups.MATCHER), topics.mail_raw),
            (group(groups.MATCHER), topics.calendar_raw),
            (group(groups.MATCHER_REPLAY_MAIL), topics.mail_replay),
            (group(groups.MATCHER_REPLAY_CALENDAR), topics.calendar_replay),
        },
        "enricher": {
            (group(groups.ENRICHER), topics.mail_matched),
            (group(groups.ENRICHER), topics.calendar_matched),
        },
        "timeline-projection": {
            (group(groups.timeline("messages")), topics.timeline_messages),
            (group(groups.timeline("events")), topics.timeline_events),
            (group(groups.TIMELINE_INDEX), topics.timeline_index),
        },
    }


def test_each_scaled_object_watches_the_groups_and_topics_the_code_consumes(
    rendered: Rendered,
) -> None:
    config = rendered.config()
    expected = scaled_consumers(config)
    found = {
        s["spec"]["scaleTargetRef"]["name"]: {
            (t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in s["spec"]["triggers"]
        }
        for s in rendered.of_kind("ScaledObject")
    }
    assert found == expected
    for name in ("MATCHER", "ENRICHER", "TIMELINE"):
        assert config[f"{name}_TOPIC_PREFIX"] == config["FETCHER_TOPIC_PREFIX"]
        assert config[f"{name}_GROUP_PREFIX"] == config["FETCHER_GROUP_PREFIX"]


def subscriptions(build: Any, settings: ServiceSettings) -> set[tuple[str, str]]:
    """(group id, topic) of every subscriber a service's ``build`` registers (no I/O)."""
    runtime = build(settings)
    return {(s.group_id, t) for s in runtime.broker.subscribers for t in s.topics}


def test_the_scaled_groups_are_the_ones_the_services_subscribe_with() -> None:
    from enricher.app import build as build_enricher
    from fetcher.app import build as build_fetcher
    from matcher.app import build as build_matcher

    config = Rendered("prod", render("prod")).config()
    expected = scaled_consumers(config)
    env = {"topic_prefix": config["FETCHER_TOPIC_PREFIX"], "log_json": False}
    env["group_prefix"] = config["FETCHER_GROUP_PREFIX"]
    assert expected["fetcher"] <= subscriptions(build_fetcher, FetcherSettings(**env))
    assert expected["matcher"] <= subscriptions(build_matcher, MatcherSettings(**env))
    assert expected["enricher"] <= subscriptions(build_enricher, EnricherSettings(**env))


def test_no_scaled_object_outgrows_its_topics_partitions(rendered: Rendered) -> None:
    partitions = rendered.partitions()
    for scaled in rendered.of_kind("ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            topic = trigger["metadata"]["topic"]
            assert scaled["spec"]["maxReplicaCount"] <= partitions[topic], topic


def test_every_topic_of_the_code_is_created_with_replication_and_compaction(
    rendered: Rendered,
) -> None:
    topics = Topics(rendered.config()["FETCHER_TOPIC_PREFIX"])
    by_name = {t["spec"]["topicName"]: t["spec"] for t in rendered.of_kind("KafkaTopic")}
    assert set(by_name) == set(topics.all())
    compacted = set(topics.compacted())
    assert compacted == {topics.mail_raw, topics.calendar_raw, topics.config}
    for name, spec in by_name.items():
        policy = spec["config"]["cleanup.policy"]
        assert policy == ("compact" if name in compacted else "delete"), name
    if rendered.overlay == "prod":
        for spec in by_name.values():
            assert spec["replicas"] == 3
            assert spec["config"]["min.insync.replicas"] == 2


def local_only(settings: type[ServiceSettings], name: str) -> bool:
    """A default that works only on the local stack: it must be set in a deployment. The
    secrets key always is (its default is the local stack's key, or none at all)."""
    default = settings.model_fields[name].default
    value = default.get_secret_value() if hasattr(default, "get_secret_value") else default
    return name == "secrets_key" or (isinstance(value, str) and "127.0.0.1" in value)


def test_every_setting_a_service_needs_is_set_and_parses(
    rendered: Rendered, monkeypatch: pytest.MonkeyPatch
) -> None:
    for deployment, container in rendered.containers():
        settings = SETTINGS[container["command"][0]]
        env = rendered.environment(container)
        prefix = prefix_of(settings)
        needed = {
            f"{prefix}{name.upper()}"
            for name, field in settings.model_fields.items()
            if field.is_required() or local_only(settings, name)
        }
        if env.get(f"{prefix}OTEL_EXPORTER", "none") == "none":
            needed.discard(f"{prefix}OTEL_ENDPOINT")  # no traces exported, none sent
        name = deployment["metadata"]["name"]
        assert needed <= set(env), f"{name} misses {sorted(needed - set(env))}"
        for key in list(os.environ):
            if key.startswith(prefix):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings()  # every value has the type its setting wants


def test_secrets_come_only_from_the_secret(rendered: Rendered) -> None:
    assert not [k for k in rendered.config() if "SECRET" in k or "MONGO_URL" in k]
    for _, container in rendered.containers():
        prefix = prefix_of(SETTINGS[container["command"][0]])
        env = rendered.environment(container)
        # crm-secrets, or the dev overlay's generated crm-secrets-<hash>
        assert re.fullmatch(r"<secret crm-secrets(-\w+)?/secrets-key>", env[f"{prefix}SECRETS_KEY"])
        assert re.fullmatch(r"<secret crm-secrets(-\w+)?/mongo-url>", env[f"{prefix}MONGO_URL"])


# --- the shape of each workload ---------------------------------------------------------


def test_selectors_match_the_pods_they_mean(rendered: Rendered) -> None:
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in rendered.of_kind("Deployment")
    }

    def selects(selector: dict[str, str], name: str | None = None) -> list[str]:
        hits = [n for n, labels in pods.items() if selector.items() <= labels.items()]
        assert hits, f"{selector} selects no pod"
        if name is not None:
            assert hits == [name], f"{selector} selects {hits}, not only {name}"
        return hits

    for deployment in rendered.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        selects(deployment["spec"]["selector"]["matchLabels"], name)
    for kind in ("PodDisruptionBudget",):
        for doc in rendered.of_kind(kind):
            selects(doc["spec"]["selector"]["matchLabels"], doc["metadata"]["name"])
    for service in rendered.of_kind("Service"):
        selects(service["spec"]["selector"], service["metadata"]["name"])
    for scaler in rendered.of_kind("ScaledObject") + rendered.of_kind("HorizontalPodAutoscaler"):
        assert scaler["spec"]["scaleTargetRef"]["name"] in pods
    for policy in rendered.of_kind("NetworkPolicy"):
        if policy["spec"]["podSelector"].get("matchLabels"):
            selects(policy["spec"]["podSelector"]["matchLabels"])


def test_the_scheduler_runs_exactly_once(rendered: Rendered) -> None:
    scheduler = rendered.named("Deployment", "fetcher-scheduler")
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"] == {"type": "Recreate"}
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in rendered.of_kind("ScaledObject")}
    assert "fetcher-scheduler" not in scaled


def test_images_are_pinned_to_a_release(rendered: Rendered) -> None:
    for _, container in rendered.containers():
        image = container["image"]
        name, _, tag = image.rpartition(":")
        assert name, f"{image} has no tag"
        assert tag not in ("", "latest"), image


def test_containers_run_locked_down_and_write_only_to_tmp(rendered: Rendered) -> None:
    for deployment, container in rendered.containers():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        assert set(container["resources"]) == {"requests", "limits"}


def test_every_consumer_is_probed_on_its_health_port_and_stops_within_its_grace(
    rendered: Rendered,
) -> None:
    for deployment, container in rendered.containers():
        pod = deployment["spec"]["template"]["spec"]
        env = rendered.environment(container)
        prefix = prefix_of(SETTINGS[container["command"][0]])
        assert "livenessProbe" in container
        assert "readinessProbe" in container
        grace = float(env.get(f"{prefix}SHUTDOWN_GRACE_S", 20.0))
        assert pod["terminationGracePeriodSeconds"] >= grace + 10, deployment["metadata"]
        if env.get("TIMELINE_CONSUME") == "false":
            continue  # the API pods: probed over HTTP, no consumer in them
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["health"] == int(env[f"{prefix}HEALTH_PORT"])
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_only_the_api_takes_ingress(rendered: Rendered) -> None:
    policies = rendered.of_kind("NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny
    assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny[0]["spec"]
    opened = [p for p in policies if p["spec"].get("ingress")]
    assert [p["spec"]["podSelector"]["matchLabels"] for p in opened] == [
        {"app.kubernetes.io/name": "timeline-api"}
    ]


def test_the_prod_overlay_ships_no_secret() -> None:
    prod = Rendered("prod", render("prod"))
    assert prod.of_kind("Secret") == []


def test_the_shared_schemas_copied_here_are_unchanged() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "k8s-schemas"
    if not shared.exists():
        pytest.skip("no ../shared beside this checkout (CI's clean machine)")
    for relative in CUSTOM_SCHEMAS.values():
        assert (K8S / "schemas" / relative).read_bytes() == (shared / relative).read_bytes()
