"""Static files with their content's hash in the URL, so a browser may keep each for a
year: a changed file gets a new URL."""

import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, HTTPException, Response

STATIC = Path(__file__).parent / "static"
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass
class Assets:
    """The static folder's files by name, each with its hash (read once, on first use)."""

    folder: Path = STATIC
    _hashes: dict[str, str] = field(default_factory=dict)

    def version(self, name: str) -> str:
        """The first 12 hex digits of the file's SHA-256."""
        if name not in self._hashes:
            self._hashes[name] = hashlib.sha256((self.folder / name).read_bytes()).hexdigest()[:12]
        return self._hashes[name]

    def url(self, name: str) -> str:
        """Where a page links the file: ``/app/static/<hash>/<name>``."""
        return f"/app/static/{self.version(name)}/{name}"

    def response(self, version: str, name: str) -> Response:
        """The file; cached for a year when the hash is the current one."""
        path = self.folder / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise HTTPException(404, f"no static file {name}")
        current = version == self.version(name)
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {
            "Cache-Control": LONG_CACHE if current else "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        return Response(path.read_bytes(), media_type=media, headers=headers)


ASSETS = Assets()
router = APIRouter(include_in_schema=False)


@router.get("/app/static/{version}/{name}")
async def static_file(version: str, name: str) -> Response:
    """A static file of the web app."""
    return ASSETS.response(version, name)
