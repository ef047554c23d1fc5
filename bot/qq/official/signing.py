"""The webhook's signatures (Ed25519), as the QQ Bot platform makes them.

The key pair is derived from the bot's AppSecret: the secret, repeated until it is at least 32
bytes long, cut to 32 bytes, is the Ed25519 seed. The platform signs each delivery over the
`X-Signature-Timestamp` header followed by the raw body, and sends the signature hex-encoded in
`X-Signature-Ed25519`; the bot proves it holds the secret when the callback URL is validated by
signing the event timestamp followed by the plain token it was sent.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SEED_BYTES = 32
SIGNATURE_BYTES = 64


def seed_from_secret(secret: str) -> bytes:
    if not secret:
        raise ValueError("the bot secret is empty")
    seed = secret
    while len(seed.encode()) < SEED_BYTES:
        seed += seed
    return seed.encode()[:SEED_BYTES]


def private_key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed_from_secret(secret))


class Signer:
    """Signs and verifies with the key pair of one bot secret."""

    def __init__(self, secret: str) -> None:
        self._private = private_key(secret)
        self.public: Ed25519PublicKey = self._private.public_key()

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    def verify(self, *, timestamp: str, body: bytes, signature: str) -> bool:
        """Whether `signature` (hex) is the platform's over timestamp + body."""
        try:
            raw = bytes.fromhex(signature)
        except ValueError:
            return False
        # A well-formed signature is 64 bytes whose last byte has its top three bits clear.
        if len(raw) != SIGNATURE_BYTES or raw[63] & 0xE0:
            return False
        try:
            self.public.verify(raw, timestamp.encode() + body)
        except InvalidSignature:
            return False
        return True

    def validation_answer(self, *, plain_token: str, event_ts: str) -> dict[str, str]:
        """The answer to the callback-URL validation (op 13)."""
        return {"plain_token": plain_token, "signature": self.sign(event_ts.encode() + plain_token.encode())}
