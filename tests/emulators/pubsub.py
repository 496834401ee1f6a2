"""Google Cloud Pub/Sub, the part Gmail's push uses: topics, and push subscriptions that
POST each message to an HTTPS endpoint with a Google-signed OIDC token.

cloud.google.com/pubsub/docs/push: the body is ``{"message": {"data" (base64),
"messageId", "publishTime", "attributes"}, "subscription"}``; with authentication on,
``Authorization: Bearer <JWT>`` signed RS256 by Google, whose claims are ``iss``
(https://accounts.google.com), ``aud`` (the subscription's audience, by default the
endpoint URL), ``email`` (the service account the subscription names),
``email_verified``, ``iat`` and ``exp`` (an hour). Google publishes its keys as a JWKS;
the emulator signs with a test key of its own and publishes it the same way (``jwks``),
so the receiver checks a real signature.
"""

import base64
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .notify import Notifier

GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass
class PushSubscription:
    """A push subscription of a topic, with OIDC authentication."""

    name: str
    endpoint: str
    audience: str
    service_account: str


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class PubSub:
    """Topics, their push subscriptions, and the key the tokens are signed with."""

    notifier: Notifier
    project: str = "crm-test"
    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    kid: str = "emulator-key-1"
    topics: dict[str, list[PushSubscription]] = field(default_factory=dict)
    _ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1_000_000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create_topic(self, name: str) -> str:
        """A topic; returns its full name (projects/<project>/topics/<name>)."""
        full = f"projects/{self.project}/topics/{name}"
        self.topics.setdefault(full, [])
        return full

    def subscribe(
        self, topic: str, endpoint: str, service_account: str, audience: str | None = None
    ) -> PushSubscription:
        """A push subscription delivering ``topic`` to ``endpoint``."""
        name = f"projects/{self.project}/subscriptions/push-{len(self.topics[topic]) + 1}"
        sub = PushSubscription(name, endpoint, audience or endpoint, service_account)
        self.topics[topic].append(sub)
        return sub

    def jwks(self) -> dict[str, Any]:
        """The public signing keys, as Google publishes them (oauth2/v3/certs)."""
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [public | {"kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def token(
        self,
        audience: str,
        email: str,
        *,
        issuer: str = GOOGLE_ISSUER,
        key: rsa.RSAPrivateKey | None = None,
        lifetime_s: int = 3600,
    ) -> str:
        """An OIDC token as Pub/Sub signs it (tests forge others by changing a claim)."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "email": email,
            "email_verified": True,
            "azp": "1" + "0" * 20,
            "sub": "1" + "0" * 20,
            "iat": now,
            "exp": now + lifetime_s,
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def envelope(self, sub: PushSubscription, data: dict[str, Any]) -> bytes:
        """The body a push delivers."""
        with self._lock:
            message_id = str(next(self._ids))
        published = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message = {
            "data": base64.b64encode(json.dumps(data).encode()).decode(),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
            "attributes": {},
        }
        return json.dumps({"message": message, "subscription": sub.name}).encode()

    def publish(self, topic: str, data: dict[str, Any]) -> int:
        """Deliver a message to every push subscription of the topic; how many."""
        subs = self.topics.get(topic, [])
        for sub in subs:
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.token(sub.audience, sub.service_account)}",
            }
            self.notifier.post(sub.endpoint, self.envelope(sub, data), headers)
        return len(subs)
