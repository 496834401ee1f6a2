"""The rendered Kubernetes manifests, as plain data for the tests (no cluster needed)."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
Doc = dict[str, Any]


def render(overlay: str) -> list[Doc]:
    """``kubectl kustomize`` of one overlay (scripts/kustomize.sh), as a list of resources."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "kustomize.sh"), str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@dataclass(frozen=True)
class Rendered:
    """One overlay's resources, with the look-ups the invariants need."""

    overlay: str
    docs: list[Doc]

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d["kind"] == kind]

    def named(self, kind: str, name: str) -> Doc:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
        return found[0]

    def config(self) -> dict[str, str]:
        (config,) = [d for d in self.of_kind("ConfigMap") if d["metadata"]["name"] == "crm-config"]
        return dict(config["data"])

    def containers(self) -> Iterator[tuple[Doc, Doc]]:
        """(Deployment, container) pairs."""
        for deployment in self.of_kind("Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                yield deployment, container

    def environment(self, container: Doc) -> dict[str, str]:
        """The variables a container gets: its ConfigMaps, then its own env (secrets as a
        placeholder naming their key)."""
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            name = source["configMapRef"]["name"]
            env.update(self.named("ConfigMap", name)["data"])
        for entry in container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            else:
                ref = entry["valueFrom"]["secretKeyRef"]
                env[entry["name"]] = f"<secret {ref['name']}/{ref['key']}>"
        return env

    def partitions(self) -> dict[str, int]:
        """Topic name -> partitions, from the KafkaTopics."""
        return {
            t["spec"].get("topicName", t["metadata"]["name"]): t["spec"]["partitions"]
            for t in self.of_kind("KafkaTopic")
        }
