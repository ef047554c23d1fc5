"""The webhook's Ed25519 signatures, checked against the worked examples of the platform's own
documentation (tencent-connect/bot-docs) and of its Go SDK (tencent-connect/botgo)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from bot.qq.official.signing import Signer, seed_from_secret


def public_hex(signer: Signer) -> str:
    return signer.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def test_the_key_is_derived_from_the_secret_as_the_documentation_shows() -> None:
    # bot-docs, develop/api-v2/dev-prepare/interface-framework/sign.md, DEMO 1
    assert seed_from_secret("naOC0ocQE3shWLAfffVLB1rhYPG7") == b"naOC0ocQE3shWLAfffVLB1rhYPG7naOC"
    assert (
        public_hex(Signer("naOC0ocQE3shWLAfffVLB1rhYPG7"))
        == bytes(
            [
                *(215, 195, 98, 254, 120, 174, 248, 31, 242, 50, 135, 180, 147, 98, 139, 93),
                *(176, 42, 60, 79, 227, 11, 33, 94, 77, 25, 96, 155, 93, 118, 103, 58),
            ]
        ).hex()
    )
    # a secret three times too short is repeated until it is long enough
    assert seed_from_secret("123456abcdef") == b"123456abcdef123456abcdef123456ab"


def test_the_callback_validation_is_answered_as_the_documentation_expects() -> None:
    # bot-docs, event-emit.md: appid 11111111, secret DG5g3B4j9X2KOErG
    answer = Signer("DG5g3B4j9X2KOErG").validation_answer(
        plain_token="Arq0D5A61EgUu4OxUvOp", event_ts="1725442341"
    )
    assert answer == {
        "plain_token": "Arq0D5A61EgUu4OxUvOp",
        "signature": "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
        "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706",
    }


BOTGO_BODY = (
    '{"id":"ROBOT1.0_veoihSEXDc8Q.g-6eLpNIa11bH8MisOjn-m-LKxCPntMk6exUXgcWCGpVO7L2QKTNZzjZzFFDSbiOFcqAPWyVA!!",'
    '"content":"哦一下","timestamp":"2024-10-15T16:33:15+08:00","author":{"id":"675860273","user_openid":"675860273"}}'
).encode()
BOTGO_SIGNATURE = (
    "e949b5b94ef4103df903fb031d1d16e358db3db83e79e117edd404c8508be3ce"
    "8a76d7bad1bed353194c126a1a5915b4ad8b5288c1191cc53a12acffccd82004"
)


def test_a_real_delivery_verifies_and_any_change_to_it_does_not() -> None:
    # botgo, interaction/signature/interaction_test.go
    signer = Signer("123456abcdef")
    assert signer.verify(timestamp="1728981195", body=BOTGO_BODY, signature=BOTGO_SIGNATURE)
    assert not signer.verify(timestamp="1728981196", body=BOTGO_BODY, signature=BOTGO_SIGNATURE)
    assert not signer.verify(timestamp="1728981195", body=BOTGO_BODY + b" ", signature=BOTGO_SIGNATURE)
    assert not Signer("123456abcdeF").verify(
        timestamp="1728981195", body=BOTGO_BODY, signature=BOTGO_SIGNATURE
    )
    for forged in ("", "zz", BOTGO_SIGNATURE[:-2], "ff" * 64):
        assert not signer.verify(timestamp="1728981195", body=BOTGO_BODY, signature=forged)


def test_the_documentations_own_signature_example_is_refused() -> None:
    # sign.md DEMO 2 prints a signature that does not verify for its own secret, timestamp and body
    # (whatever the spacing); a verifier that accepted it would accept anything.
    signer = Signer("naOC0ocQE3shWLAfffVLB1rhYPG7")
    body = b'{ "op": 0,"d": {}, "t": "GATEWAY_EVENT_NAME"}'
    documented = (
        "865ad13a61752ca65e26bde6676459cd36cf1be609375b37bd62af366e1dc25a"
        "8dc789ba7f14e017ada3d554c671a911bfdf075ba54835b23391d509579ed002"
    )
    assert not signer.verify(timestamp="1725442341", body=body, signature=documented)
    assert signer.verify(timestamp="1725442341", body=body, signature=signer.sign(b"1725442341" + body))
