"""Builds pii_labelled.jsonl: chat-like sentences, each with at most one labelled personal-data item or secret.

    .venv/bin/python benchmarks/data/build_pii_labelled.py

Rows: {"text", "kind" (email|phone|credit_card|ip|secret|null), "value" (the exact span, or null), "note"}.
Values are made up (example domains, 555 numbers, test card numbers with valid check digits, documentation IP
ranges, fake tokens in each vendor's published shape). Negatives are the strings a naive detector trips on.
Deterministic (fixed seed): rerunning rewrites the same file.
"""
from __future__ import annotations

import json
import random
import string
from pathlib import Path

OUT = Path(__file__).with_name("pii_labelled.jsonl")
rnd = random.Random(20261123)

FIRST = ["lena", "tom", "ana", "omar", "mei", "raj", "sofia", "jonas", "kwame", "ines", "yuki", "pavel"]
LAST = ["park", "berg", "silva", "haddad", "chen", "patel", "rossi", "keller", "mensah", "garcia", "sato", "novak"]
DOMAINS = ["acme.example", "mail.example.com", "corp.example.org", "example.co.uk", "lab.example.net",
           "students.example.edu", "example.io", "sub.dept.example.gov"]
SENT_BEFORE = ["please write to", "cc", "reach me at", "forwarding to", "my private address is", "ping",
               "contact", "the invoice went to", "send the NDA to", "you can also try"]
SENT_AFTER = ["if it's urgent", "before Friday", "thanks!", "for access", "(personal)", "", "asap", "or call me"]


def alnum(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rnd.choice(alphabet) for _ in range(n))


def luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def card(prefix: str, length: int) -> str:
    body = prefix + "".join(rnd.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn_digit(body)


def group(num: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(num[i:i + s])
        i += s
    return sep.join(out)


def emails():
    rows = []
    for i in range(45):
        f, l, d = rnd.choice(FIRST), rnd.choice(LAST), rnd.choice(DOMAINS)
        local = rnd.choice([f"{f}.{l}", f"{f}{l[0]}", f"{f}_{l}", f"{f}+hr", f"{f[0]}.{l}{rnd.randint(1, 99)}",
                            f"{f.upper()}.{l.capitalize()}", f"{f}-{l}"])
        value = f"{local}@{d}"
        text = rnd.choice([f"{rnd.choice(SENT_BEFORE)} {value} {rnd.choice(SENT_AFTER)}",
                           f"<{value}> wrote: see below", f"email: {value}", f"({value})",
                           f"Mail {value}, subject 'expenses'"])
        rows.append(dict(text=text.strip(), kind="email", value=value, note="email"))
    return rows


def phones():
    rows = []
    formats = [
        lambda: f"+1 (415) 555-{rnd.randint(1000, 9999)}", lambda: f"415-555-{rnd.randint(1000, 9999)}",
        lambda: f"(212) 555-{rnd.randint(1000, 9999)}", lambda: f"+1 646 555 {rnd.randint(1000, 9999)}",
        lambda: f"+44 20 7946 0{rnd.randint(100, 999)}", lambda: f"+44 7700 900{rnd.randint(100, 999)}",
        lambda: f"+49 30 {rnd.randint(1000000, 9999999)}", lambda: f"+33 1 {rnd.randint(10, 99)} {rnd.randint(10, 99)} "
                                                                     f"{rnd.randint(10, 99)} {rnd.randint(10, 99)}",
        lambda: f"+91 98{rnd.randint(100, 999)} {rnd.randint(10000, 99999)}", lambda: f"+1-312-555-{rnd.randint(1000, 9999)}",
        lambda: f"+61 2 9{rnd.randint(100, 999)} {rnd.randint(1000, 9999)}", lambda: f"312.555.{rnd.randint(1000, 9999)}",
    ]
    ctx = ["call me on {}", "my cell is {}", "phone: {}", "reach the landlord at {} after 6pm", "{} (mobile)",
           "text {} if the door is locked", "the agency number is {}", "Tel. {}"]
    for i in range(48):
        value = formats[i % len(formats)]()
        rows.append(dict(text=rnd.choice(ctx).format(value), kind="phone", value=value, note="phone"))
    return rows


def cards():
    rows = []
    kinds = [("4", 16, [4, 4, 4, 4]), ("51", 16, [4, 4, 4, 4]), ("55", 16, [4, 4, 4, 4]), ("2221", 16, [4, 4, 4, 4]),
             ("34", 15, [4, 6, 5]), ("37", 15, [4, 6, 5]), ("6011", 16, [4, 4, 4, 4]), ("65", 16, [4, 4, 4, 4])]
    ctx = ["card number {} exp 09/28", "use my card {} for the hotel", "CC: {}", "paid with {}, cvv in DM",
           "corporate card {}", "{} is the team card"]
    for i in range(44):
        prefix, length, sizes = kinds[i % len(kinds)]
        num = card(prefix, length)
        sep = [" ", "-", ""][i % 3]
        value = group(num, sizes, sep) if sep else num
        rows.append(dict(text=rnd.choice(ctx).format(value), kind="credit_card", value=value, note=f"card {prefix}"))
    return rows


def ips():
    rows = []
    ctx = ["ssh into {} and restart", "the db is at {}:5432", "blocked {} in the firewall", "server IP: {}",
           "requests from {} keep failing", "VPN gateway {}", "({}) timed out"]
    for i in range(44):
        if i % 4 == 3:
            value = rnd.choice(["2001:db8::", "2001:db8:85a3::", "fe80::", "2001:db8:0:0:"]) + \
                ":".join(f"{rnd.randint(1, 0xffff):x}" for _ in range(rnd.randint(2, 3)))
            if value.count("::") == 0 and value.count(":") != 7:
                value = "2001:db8::" + value.rsplit(":", 1)[-1]
        else:
            value = rnd.choice([f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                                f"192.168.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                                f"172.{rnd.randint(16, 31)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                                f"203.0.113.{rnd.randint(1, 254)}", f"198.51.100.{rnd.randint(1, 254)}"])
        rows.append(dict(text=rnd.choice(ctx).format(value), kind="ip", value=value, note="ipv6" if ":" in value else "ipv4"))
    return rows


def secrets():
    rows = []
    digits = string.digits
    makers = [
        ("slack bot token", lambda: f"xoxb-{alnum(12, digits)}-{alnum(13, digits)}-{alnum(24)}"),
        ("slack user token", lambda: f"xoxp-{alnum(12, digits)}-{alnum(12, digits)}-{alnum(13, digits)}-{alnum(32, '0123456789abcdef')}"),
        ("slack webhook", lambda: f"https://hooks.slack.com/services/T{alnum(8, string.ascii_uppercase + digits)}/"
                                  f"B{alnum(8, string.ascii_uppercase + digits)}/{alnum(24)}"),
        ("aws access key", lambda: "AKIA" + alnum(16, string.ascii_uppercase + digits)),
        ("github token", lambda: "ghp_" + alnum(36)),
        ("github oauth", lambda: "gho_" + alnum(36)),
        ("stripe key", lambda: "sk_live_" + alnum(24)),
        ("google api key", lambda: "AIza" + alnum(35, string.ascii_letters + digits + "_-")),
        ("openai key", lambda: "sk-proj-" + alnum(48, string.ascii_letters + digits + "_-")),
        ("sendgrid key", lambda: f"SG.{alnum(22)}.{alnum(43)}"),
        ("jwt", lambda: "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiI" + alnum(20) + "." + alnum(43, string.ascii_letters + digits + "_-")),
        ("npm token", lambda: "npm_" + alnum(36)),
    ]
    ctx = ["here's the token {} don't share", "export KEY={}", "use {} for staging", "`{}`", "key: {}",
           "I pasted {} by mistake, rotating now"]
    for i in range(48):
        note, make = makers[i % len(makers)]
        value = make()
        rows.append(dict(text=rnd.choice(ctx).format(value), kind="secret", value=value, note=note))
    for i in range(8):  # passwords in URLs: the password is the secret
        pw = alnum(10) + rnd.choice("!#%") + alnum(3)
        host = rnd.choice(["db.acme.example", "mq.acme.example", "redis.internal.example"])  # no IP: one label a row
        scheme = rnd.choice(["postgres", "mysql", "redis", "https", "amqp"])
        rows.append(dict(text=f"connect with {scheme}://admin:{pw}@{host}/main", kind="secret", value=pw,
                         note="password in URL"))
    for i in range(6):
        pw = alnum(8) + rnd.choice("!$") + alnum(4, digits)
        key = rnd.choice(["password", "db_password", "PASSWORD", "passwd", "api_key", "secret"])
        rows.append(dict(text=f"{key}: {pw}", kind="secret", value=pw, note="keyword assignment"))
    for i in range(4):
        body = "\n".join(alnum(64, string.ascii_letters + digits + "+/") for _ in range(3))
        kind = ["RSA ", "EC ", "OPENSSH ", ""][i]
        value = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
        rows.append(dict(text=f"here is the deploy key:\n{value}\nthanks", kind="secret", value=value, note="private key"))
    return rows


def negatives():
    hexd = "0123456789abcdef"

    def non_luhn16():
        body = "4" + "".join(rnd.choice(string.digits) for _ in range(14))
        return body + str((int(luhn_digit(body)) + rnd.randint(1, 9)) % 10)

    def uuid():
        return f"{alnum(8, hexd)}-{alnum(4, hexd)}-4{alnum(3, hexd)}-a{alnum(3, hexd)}-{alnum(12, hexd)}"

    makers = [
        ("version", lambda: f"upgrade to v{rnd.randint(1, 12)}.{rnd.randint(0, 30)}.{rnd.randint(0, 99)}.{rnd.randint(0, 9)} tonight"),
        ("version", lambda: f"release {rnd.randint(1, 4)}.{rnd.randint(0, 20)}.{rnd.randint(0, 9)} is out"),
        ("version", lambda: f"we pin version {rnd.randint(1, 9)}.{rnd.randint(0, 9)}.{rnd.randint(0, 9)}.{rnd.randint(0, 9)} in prod"),
        ("date", lambda: f"the deadline is {rnd.randint(2019, 2027)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"),
        ("date", lambda: f"meeting {rnd.randint(1, 12)}/{rnd.randint(1, 28)}/{rnd.randint(2020, 2027)} at {rnd.randint(8, 17)}:{rnd.choice(['00', '30'])}"),
        ("timestamp", lambda: f"logged at {rnd.randint(2020, 2027)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}T{rnd.randint(10, 23)}:{rnd.randint(10, 59)}:{rnd.randint(10, 59)}Z"),
        ("time", lambda: f"uptime {rnd.randint(10, 23)}:{rnd.randint(10, 59)}:{rnd.randint(10, 59)} so far"),
        ("isbn13", lambda: f"ISBN 978-{rnd.randint(0, 1)}-{rnd.randint(100, 999)}-{rnd.randint(10000, 99999)}-{rnd.randint(0, 9)}"),
        ("isbn10", lambda: f"ISBN {rnd.randint(0, 9)}-{rnd.randint(100, 999)}-{rnd.randint(10000, 99999)}-{rnd.randint(0, 9)}"),
        ("non-luhn 16 digits", lambda: f"order {non_luhn16()} shipped"),
        ("non-luhn 16 digits grouped", lambda: "ref " + group(non_luhn16(), [4, 4, 4, 4], " ")),
        ("luhn-valid but no card prefix", lambda: f"tracking id {card('1', 16)}"),
        ("git sha", lambda: f"fixed in commit {alnum(40, hexd)}"),
        ("short sha", lambda: f"see {alnum(7, hexd)} on main"),
        ("sha256", lambda: f"checksum sha256:{alnum(64, hexd)}"),
        ("md5", lambda: f"md5 {alnum(32, hexd)}"),
        ("uuid", lambda: f"request id {uuid()}"),
        ("user@ without domain", lambda: f"log in as {rnd.choice(FIRST)}@ on the VPN"),
        ("mention", lambda: f"@{rnd.choice(FIRST)} can you review?"),
        ("handle path", lambda: f"https://medium.com/@{rnd.choice(FIRST)}{rnd.choice(LAST)}/our-story"),
        ("docker digest", lambda: f"image python@sha256:{alnum(64, hexd)}"),
        ("mac address", lambda: "MAC " + ":".join(alnum(2, "0123456789ABCDEF") for _ in range(6))),
        ("oid", lambda: f"OID 1.3.6.1.4.1.{rnd.randint(1000, 60000)}.{rnd.randint(1, 9)}"),
        ("price", lambda: f"budget ${rnd.randint(1, 999)},{rnd.randint(100, 999)}.{rnd.randint(10, 99)}"),
        ("coordinates", lambda: f"office at {rnd.uniform(-80, 80):.4f}, {rnd.uniform(-170, 170):.4f}"),
        ("zip+4", lambda: f"ship to ZIP {rnd.randint(10000, 99999)}-{rnd.randint(1000, 9999)}"),
        ("ticket", lambda: f"tracked in JIRA-{rnd.randint(1000, 99999)}"),
        ("extension", lambda: f"dial ext. {rnd.randint(100, 9999)}"),
        ("range", lambda: f"ports {rnd.randint(1000, 5000)}-{rnd.randint(5001, 9000)} are open"),
        ("placeholder password", lambda: f"password: {rnd.choice(['<your password>', '${DB_PASSWORD}', '********', 'changeme', 'required'])}"),
        ("password advice", lambda: f"password: {rnd.choice(['reset it in the portal', 'ask IT for a new one', 'see the vault entry'])}"),
        ("token placeholder", lambda: f"set SLACK_BOT_TOKEN to {rnd.choice(['xoxb-your-token', 'xoxb-...', 'your bot token'])}"),
        ("url without credentials", lambda: f"https://{rnd.choice(DOMAINS)}/docs?user={rnd.choice(FIRST)}"),
        ("decimal", lambda: f"p99 latency {rnd.randint(1, 999)}.{rnd.randint(100, 999)} ms over {rnd.randint(1000, 9999)} requests"),
        ("big count", lambda: f"processed {rnd.randint(1000000000, 9999999999)} rows"),
        ("build number", lambda: f"build {rnd.randint(2024, 2026)}{rnd.randint(1, 12):02d}{rnd.randint(1, 28):02d}.{rnd.randint(1, 9)}"),
        ("ip-like version with v", lambda: f"node v{rnd.randint(10, 22)}.{rnd.randint(0, 20)}.{rnd.randint(0, 9)}"),
        ("dotted section number", lambda: f"see section {rnd.randint(1, 9)}.{rnd.randint(1, 9)}.{rnd.randint(1, 9)}"),
        ("slack user id", lambda: f"user U{alnum(10, string.ascii_uppercase + string.digits)} joined"),
        ("base64 image name", lambda: f"file IMG_{rnd.randint(1000, 9999)}.jpeg uploaded"),
        ("scoped npm package", lambda: f"npm i @{rnd.choice(['acme', 'types', 'babel'])}/core@{rnd.randint(1, 9)}.{rnd.randint(0, 9)}.0"),
        ("git ssh remote", lambda: f"clone git@github.com:acme/{rnd.choice(LAST)}.git"),
    ]
    rows = []
    for i in range(252):
        note, make = makers[i % len(makers)]
        rows.append(dict(text=make(), kind=None, value=None, note=note))
    return rows


def main() -> None:
    rows = emails() + phones() + cards() + ips() + secrets() + negatives()
    for r in rows:
        assert r["value"] is None or r["value"] in r["text"], r
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(OUT)
    pos = sum(r["kind"] is not None for r in rows)
    print(f"{OUT}: {pos} positives, {len(rows) - pos} negatives")


if __name__ == "__main__":
    main()
