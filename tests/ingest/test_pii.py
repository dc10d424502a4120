import pytest

from ingest.pii import ALL_KINDS, SECRET, MaskPolicy, find_pii, luhn_ok, mask


def kinds(text):
    return [(f.kind, f.value) for f in find_pii(text, ALL_KINDS)]


@pytest.mark.parametrize("text,kind,value", [
    ("write to lena.park@acme.example today", "email", "lena.park@acme.example"),
    ("call +1 (415) 555-2671 now", "phone", "+1 (415) 555-2671"),
    ("call 415-555-2671", "phone", "415-555-2671"),
    ("UK office +44 20 7946 0958", "phone", "+44 20 7946 0958"),
    ("card 4111 1111 1111 1111 exp 12/29", "credit_card", "4111 1111 1111 1111"),
    ("amex 378282246310005", "credit_card", "378282246310005"),
    ("db at 10.20.30.40:5432", "ip", "10.20.30.40"),
    ("v6 2001:db8::8a2e:370:7334 here", "ip", "2001:db8::8a2e:370:7334"),
    ("token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "secret",
     "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("AKIAIOSFODNN7EXAMPLE is the key", "secret", "AKIAIOSFODNN7EXAMPLE"),
    ("ghp_1234567890abcdefghijABCDEFGHIJ123456", "secret", "ghp_1234567890abcdefghijABCDEFGHIJ123456"),
    ("postgres://app:s3cr3tPW@db.acme.example/prod", "secret", "s3cr3tPW"),
    ("password: Hunter2!x", "secret", "Hunter2!x"),
    ("redis://admin:Pa55!word#9@cache.acme.example/0", "secret", "Pa55!word#9"),
    ("npm_gaMenBG5nUHr9IJ9sjBpVgyz5D1Iu9HQqg5v leaked", "secret", "npm_gaMenBG5nUHr9IJ9sjBpVgyz5D1Iu9HQqg5v"),
    ("key sk-proj-abcdefghijklmnopqrstuvwxyzABCDEFGHIJ1234567890abcd", "secret",
     "sk-proj-abcdefghijklmnopqrstuvwxyzABCDEFGHIJ1234567890abcd"),
])
def test_positives(text, kind, value):
    assert (kind, value) in kinds(text)


@pytest.mark.parametrize("text", [
    "upgrade to version 1.2.3.4 tonight", "released v2.10.0.1", "meeting on 2024-01-15 at 12:30:45",
    "ISBN 978-3-16-148410-0", "order 4111111111111112 (not Luhn)", "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "id 123e4567-e89b-12d3-a456-426614174000", "mail user@ without a domain", "ticket #4155552671",
    "password: reset it from the portal", "password: ${DB_PASSWORD}", "MAC 00:1A:2B:3C:4D:5E",
    "clone git@github.com:acme/robot.git", "ISBN 4-313-74390-5",
])
def test_tricky_negatives(text):
    assert kinds(text) == []


def test_private_key_block_masked_whole():
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----\nthanks"
    masked, counts = mask(text, MaskPolicy.for_target("training"))
    assert masked == "key:\n[SECRET]\nthanks" and counts == {"secret": 1}


def test_policies_per_target():
    text = "mail lena@acme.example, token xoxp-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    index_default, _ = mask(text, MaskPolicy.for_target("index", mask_personal_data=False))
    assert "lena@acme.example" in index_default and "[SECRET]" in index_default
    training, counts = mask(text, MaskPolicy.for_target("training"))
    assert training == "mail [EMAIL], token [SECRET]" and counts == {"email": 1, "secret": 1}
    with pytest.raises(ValueError, match="unknown masking target"):
        MaskPolicy.for_target("dataset")


def test_secret_in_url_beats_email_overlap():
    found = find_pii("https://bob:pa55word@host.example/x", ALL_KINDS)
    assert [(f.kind, f.value) for f in found] == [(SECRET, "pa55word")]


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
