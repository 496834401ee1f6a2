"""Run the enricher: ``python -m enricher`` or the ``enricher`` console script."""

from crm_runtime.service import run
from enricher.app import build
from enricher.settings import EnricherSettings


def main() -> None:
    """Read settings from the environment and run until stopped."""
    run(build(EnricherSettings()))


if __name__ == "__main__":
    main()
