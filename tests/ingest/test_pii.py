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
    # national formats, found through region hints
    ("call me on 07911 123456 after six", "phone", "07911 123456"),
    ("meine Nummer: 0171 3456789", "phone", "0171 3456789"),
    ("whatsapp 98860 43217 pls", "phone", "98860 43217"),
    ("contact (+1-641-555-0190)", "phone", "+1-641-555-0190"),
    ("wire it to DE89 3704 0044 0532 0130 00 please", "iban", "DE89 3704 0044 0532 0130 00"),
    ("IBAN GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
    ("for the W-9 my SSN is 536-90-4399", "ssn", "536-90-4399"),
    ("ssn 536 90 4399", "ssn", "536 90 4399"),
    ("curl -H 'Authorization: Bearer 3f786850e387550fdab836ed7e6dc881de23001b' https://x.example",
     "secret", "3f786850e387550fdab836ed7e6dc881de23001b"),
    ("Authorization: Basic bGVuYTpIdW50ZXIyMDI0IQ==", "secret", "bGVuYTpIdW50ZXIyMDI0IQ=="),
    ("X-API-Key: Zq8vN2xLw4RtYp6sKd9fHj3mBc7aQe1u", "secret", "Zq8vN2xLw4RtYp6sKd9fHj3mBc7aQe1u"),
    ("DB_PASSWORD=vZduuZ4nm$962 in the .env", "secret", "vZduuZ4nm$962"),
])
def test_positives(text, kind, value):
    assert (kind, value) in kinds(text)


@pytest.mark.parametrize("text", [
    "upgrade to version 1.2.3.4 tonight", "released v2.10.0.1", "meeting on 2024-01-15 at 12:30:45",
    "ISBN 978-3-16-148410-0", "order 4111111111111112 (not Luhn)", "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "id 123e4567-e89b-12d3-a456-426614174000", "mail user@ without a domain", "ticket #4155552671",
    "password: reset it from the portal", "password: ${DB_PASSWORD}", "MAC 00:1A:2B:3C:4D:5E",
    "clone git@github.com:acme/robot.git", "ISBN 4-313-74390-5",
    # decoys seen in community workspaces: versions, timestamps, `::` tokens, REPL prompts, ports, prose
    "we test 1.2.3.4-rc on staging", "olake-ui 2.10.0.1 is out", "pip freeze says pyiceberg==10.19.1.1",
    "attached Logs-2026-06-08 13_34_09.txt", "the job failed at 2026-06-08 13:34:09 UTC",
    "panic in beef::cafe and std::vector", "racket@foo.rkt> (define x 1)", "the UI listens on localhost:8000",
    "bind to 127.0.0.1 and ::1 inside the container", "set 1680x1050 resolution", "first cylinder 4864-4864",
    "processed 9876543210 rows overnight", "does the API support Bearer authentication?", "some basic docs/guides",
    "sudo passwd sam555", "NOPASSWD: /usr/sbin/arp", "installing linux-headers-2.6.8.1-4",
    "arn:aws:iam::123456789012:role/olake-x",
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


def test_whole_jwt_masked_signature_included():
    jwt = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkxlbmEifQ."
           "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
    masked, counts = mask(f"token={jwt} expires tomorrow", MaskPolicy.for_target("training"))
    assert masked == "token=[SECRET] expires tomorrow" and counts == {"secret": 1}


def test_iban_needs_checksum_and_ssn_needs_valid_ranges():
    assert kinds("ref DE89 3704 0044 0532 0130 01") == []  # one digit off: the mod-97 check fails
    assert kinds("call 000-12-3456 or 666-12-3456") == []  # area 000 and 666 are never issued


def test_index_masks_personal_data_by_default():
    text = "mail lena@acme.example, call 07911 123456"
    masked, _ = mask(text, MaskPolicy.for_target("index"))
    assert masked == "mail [EMAIL], call [PHONE]"


def test_phone_regions_are_a_policy_setting():
    text = "ring 06 12 34 56 78 tonight"  # a French mobile, national format
    assert "[PHONE]" in mask(text, MaskPolicy.for_target("training", phone_regions=["FR"]))[0]
    assert mask(text, MaskPolicy.for_target("training", phone_regions=["US"]))[0] == text
