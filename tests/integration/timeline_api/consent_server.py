"""A local OAuth 2 authorization server in the shape of Google's and Microsoft's.

HTTPS on 127.0.0.1 with a certificate made for the run (msal accepts only https
authorities). It implements the authorization-code flow as both providers document it:
registered clients and redirect URIs, ``response_type=code``, PKCE S256 (the verifier
must hash to the challenge), single-use codes bound to client, redirect URI and
verifier, client authentication at the token endpoint, ``invalid_grant`` for a code used
twice or unknown, and an ID token naming the consenting user (with msal's nonce).
Microsoft's side also serves the tenant's OpenID configuration that msal discovers.
"""

import base64
import datetime as dt
import hashlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REQUIRED_SCOPES = {
    "google": {"https://www.googleapis.com/auth/gmail.readonly", "openid"},
    "microsoft": {"Mail.Read", "offline_access", "openid"},
}
TENANT = "tenant-1"


@dataclass
class ConsentServer:
    """The provider's state: its clients, who consents next, the codes it issued."""

    client_id: str
    client_secret: str
    redirect_uris: set[str]
    user: str = "ann@client.test"
    base_url: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)

    def issuer(self) -> str:
        return f"{self.base_url}/{TENANT}/v2.0"


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _Handler(BaseHTTPRequestHandler):
    server_state: ConsentServer

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            base = self.server_state.base_url
            self._json(
                200,
                {
                    "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                    "issuer": self.server_state.issuer(),
                },
            )
        elif url.path == "/google/authorize":
            self._authorize("google", query)
        elif url.path == f"/{TENANT}/oauth2/v2.0/authorize":
            self._authorize("microsoft", query)
        else:
            self._json(404, {"error": "not_found"})

    def _authorize(self, provider: str, query: dict[str, str]) -> None:
        state = self.server_state
        problems = [
            query.get("client_id") != state.client_id and "unknown client",
            query.get("redirect_uri") not in state.redirect_uris and "redirect_uri mismatch",
            query.get("response_type") != "code" and "response_type must be code",
            query.get("code_challenge_method") != "S256" and "PKCE S256 required",
            not REQUIRED_SCOPES[provider] <= set(query.get("scope", "").split()) and "scope",
            provider == "google" and query.get("access_type") != "offline" and "offline",
        ]
        refused = [p for p in problems if p]
        if refused:
            self._json(400, {"error": "invalid_request", "error_description": refused[0]})
            return
        code = secrets.token_urlsafe(24)
        state.codes[code] = {
            "redirect_uri": query["redirect_uri"],
            "challenge": query["code_challenge"],
            "nonce": query.get("nonce"),
            "scope": query["scope"],
            "provider": provider,
            "user": state.user,
            "expires": time.time() + 300,
        }
        back = urlencode({"code": code, "state": query.get("state", "")})
        self.send_response(302)
        self.send_header("Location", f"{query['redirect_uri']}?{back}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = urlsplit(self.path).path
        if path not in ("/google/token", f"/{TENANT}/oauth2/v2.0/token"):
            self._json(404, {"error": "not_found"})
            return
        state = self.server_state
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != state.client_id or secret != state.client_secret:
            self._json(401, {"error": "invalid_client", "error_description": "Unauthorized"})
            return
        if form.get("grant_type") != "authorization_code":
            self._json(400, {"error": "unsupported_grant_type"})
            return
        issued = state.codes.pop(form.get("code", ""), None)  # single use
        if (
            issued is None
            or issued["expires"] < time.time()
            or issued["redirect_uri"] != form.get("redirect_uri")
            or issued["challenge"] != _challenge(form.get("code_verifier", ""))
        ):
            self._json(400, {"error": "invalid_grant", "error_description": "Bad Request"})
            return
        self._json(200, self._tokens(issued))

    def _tokens(self, issued: dict[str, Any]) -> dict[str, Any]:
        state, now = self.server_state, int(time.time())
        refresh = f"rt-{secrets.token_urlsafe(24)}"
        state.refresh_tokens.add(refresh)
        claims: dict[str, Any] = {"aud": state.client_id, "sub": f"sub-{issued['user']}"}
        claims |= {"iat": now, "exp": now + 3600}
        if issued["provider"] == "google":
            claims |= {"iss": "https://accounts.google.com", "email": issued["user"]}
            claims["email_verified"] = True
        else:
            claims |= {"iss": state.issuer(), "preferred_username": issued["user"]}
            claims |= {"oid": f"oid-{issued['user']}", "tid": TENANT, "ver": "2.0"}
            if issued["nonce"]:
                claims["nonce"] = issued["nonce"]
        return {
            "access_token": f"at-{secrets.token_urlsafe(16)}",
            "token_type": "Bearer",
            "expires_in": 3599,
            "refresh_token": refresh,
            "scope": issued["scope"],
            "id_token": _jwt(claims),
        }


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "consent.crt", folder / "consent.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def running(folder: Path, state: ConsentServer) -> Iterator[tuple[ConsentServer, Path]]:
    """The server on a free port of 127.0.0.1; yields its state and its certificate."""
    cert_file, key_file = _certificate(folder)
    handler = type("Handler", (_Handler,), {"server_state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, cert_file
    finally:
        server.shutdown()
        server.server_close()
