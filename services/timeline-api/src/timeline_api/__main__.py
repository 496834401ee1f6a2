"""Run the timeline API: ``timeline-api`` or ``python -m timeline_api``."""

from timeline_api.entrypoints.http import main

if __name__ == "__main__":
    main()
