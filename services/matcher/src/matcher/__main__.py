"""Run the matcher: ``python -m matcher`` or the ``matcher`` console script."""

from crm_runtime.service import run
from matcher.app import build
from matcher.settings import MatcherSettings


def main() -> None:
    """Read settings from the environment and run until stopped."""
    run(build(MatcherSettings()))


if __name__ == "__main__":
    main()
