"""`crm-contracts DIR`: JSON Schema of every event and the AsyncAPI document, from the code."""

import argparse
import json
from pathlib import Path

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import TypeAdapter

from crm_schemas.catalog import catalog
from crm_schemas.topics import Topics


def asyncapi_document(topics: Topics) -> str:
    """The AsyncAPI document of every topic and its contract, as FastStream generates it."""
    broker = KafkaBroker("127.0.0.1:19092")  # never connected: documentation only
    for topic, (contract, publisher) in catalog(topics).items():
        broker.publisher(
            topic, schema=contract, title=topic, description=f"Published by {publisher}."
        )
    spec = AsyncAPI(broker, title="CRM sync events", version="1", schema_version="3.0.0")
    return spec.to_specification().to_json()


def export(target: Path) -> list[Path]:
    """Write one JSON Schema per topic and the AsyncAPI document; return the files."""
    topics = Topics()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for topic, (contract, _) in catalog(topics).items():
        path = target / f"{topic}.schema.json"
        path.write_text(
            json.dumps(TypeAdapter(contract).json_schema(by_alias=True), indent=2) + "\n"
        )
        written.append(path)
    path = target / "asyncapi.json"
    path.write_text(json.dumps(json.loads(asyncapi_document(topics)), indent=2) + "\n")
    written.append(path)
    return written


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", type=Path, nargs="?", default=Path("docs/contracts"))
    for path in export(parser.parse_args().target):
        print(path)


if __name__ == "__main__":
    main()
