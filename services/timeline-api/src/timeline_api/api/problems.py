"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from timeline_api.domain.ownership import (
    ConflictError,
    InvalidError,
    NotFoundError,
    RecordError,
    UnavailableError,
)
from timeline_api.service.account_actions import ForbiddenError

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One invalid input."""

    loc: list[str | int] = Field(description="Where: e.g. ['query', 'limit'].")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail; some carry extension members (e.g. ``checks``)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="For 422: every invalid input."
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses a route can give."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            "description": HTTPStatus(status).phrase,
        }
        for status in statuses
    }


def problem(request: Request, status: int, detail: str | None, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        **extra,
    )
    return JSONResponse(
        jsonable_encoder(body, exclude_none=True), status_code=status, media_type=PROBLEM_JSON
    )


def invalid_input(location: str, field: str, message: str) -> RequestValidationError:
    """A 422 for one input the framework could not check itself (e.g. a cursor)."""
    return RequestValidationError(
        [{"loc": (location, field), "msg": message, "type": "value_error"}]
    )


class ProblemError(Exception):
    """A refusal with extension members beside the detail, for clients to act on."""

    def __init__(self, status: int, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extensions = status, detail, extensions


async def _extended_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    return problem(request, error.status, error.detail, **error.extensions)


async def _http_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else None
    response = problem(request, error.status_code, detail)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _validation_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        FieldError(
            loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type", ""))
        )
        for e in error.errors()
    ]
    fields = ", ".join(".".join(str(p) for p in e.loc) for e in errors)
    return problem(request, 422, f"invalid input: {fields}", errors=errors)


async def _record_problem(request: Request, error: Exception) -> JSONResponse:
    """The records rules' refusals: no such record 404, taken 409, invalid input 422; 503
    when the records' writer did not answer in time."""
    assert isinstance(error, RecordError)
    if isinstance(error, InvalidError):
        return await _validation_problem(request, invalid_input("body", error.field, str(error)))
    status = (
        404
        if isinstance(error, NotFoundError)
        else 409
        if isinstance(error, ConflictError)
        else 403
        if isinstance(error, ForbiddenError)
        else 503
        if isinstance(error, UnavailableError)
        else 400
    )
    return problem(request, status, str(error))


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every HTTP error, invalid input and refused record change as problem+json."""
    app.add_exception_handler(HTTPException, _http_problem)
    app.add_exception_handler(RequestValidationError, _validation_problem)
    app.add_exception_handler(RecordError, _record_problem)
    app.add_exception_handler(ProblemError, _extended_problem)
