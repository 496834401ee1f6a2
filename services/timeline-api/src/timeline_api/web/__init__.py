"""The web app under ``/app/``: server-rendered pages (Jinja2, htmx) on the same use cases,
ports and domain rules as the HTTP API; no rule of its own (docs/web-app.md)."""
