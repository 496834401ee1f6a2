"""The web app's routes on the API's app (``entrypoints.http.create_app``)."""

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from timeline_api.web import assets
from timeline_api.web.routes import account_settings, accounts, conversations, records, session


async def _to_app() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


def mount_web(app: FastAPI) -> None:
    """Serve the pages under ``/app/`` (the records' catch-all paths last)."""
    app.include_router(assets.router)
    for module in (session, accounts, account_settings, conversations, records):
        app.include_router(module.router)
    app.add_api_route("/app", _to_app, include_in_schema=False)
