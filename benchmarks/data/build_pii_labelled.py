"""Builds pii_labelled.jsonl: a planted set of personal data and secrets, with decoys, in Slack-like sentences.

    .venv/bin/python benchmarks/data/build_pii_labelled.py

Each row: {"id", "split" ("tune"|"report"), "text", "items": [{"kind", "mask", "value"}], "decoys": [{"kind",
"value"}]}. `kind` is the planted kind (22 of them: national phone formats per country, IBAN, SSN, card, IPv4/6,
whole JWTs, bearer/basic headers, API-key headers, vendor tokens, passwords, private keys …), `mask` the placeholder
class ingest.pii should give it, `value` the exact span. `decoys` are strings a detector must leave alone (versions,
timestamps, SHAs, `::` tokens, REPL prompts, ports, loopback addresses, ids …).

Values are made up: example domains, fictional phone ranges where a country has one, test card numbers with valid
check digits, IBANs with computed check digits, SSNs in valid but unissued-looking ranges, documentation IP ranges,
random tokens in each vendor's published shape. The split is fixed: rows alternate tune/report within each kind
(after a seeded shuffle), so both halves hold every kind. Tune on `tune` only; report on `report`.
Deterministic (fixed seed): rerunning rewrites the same file.
"""
from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

from stdnum import iban as stdnum_iban

OUT = Path(__file__).with_name("pii_labelled.jsonl")
rnd = random.Random(20261207)
HEX = "0123456789abcdef"
B64URL = string.ascii_letters + string.digits + "_-"
ALNUM = string.ascii_letters + string.digits

FIRST = ["lena", "tom", "ana", "omar", "mei", "raj", "sofia", "jonas", "kwame", "ines", "yuki", "pavel", "priya",
         "diego", "hana", "arjun", "chloe", "felix"]
LAST = ["park", "berg", "silva", "haddad", "chen", "patel", "rossi", "keller", "mensah", "garcia", "sato", "novak",
        "iyer", "dubois", "moreau", "schmidt"]
DOMAINS = ["acme.example", "mail.example.com", "corp.example.org", "example.co.uk", "lab.example.net",
           "students.example.edu", "example.io", "sub.dept.example.gov", "datazip.example", "olake.example.in"]
TOOLS = ["olake", "the postgres connector", "the mongo sync", "the iceberg writer", "the kafka source",
         "the mysql CDC job", "the UI", "the worker", "our staging cluster", "the docker compose setup"]
OPENERS = ["hey", "hi team,", "quick one:", "fyi", "ok so", "update:", "hello all,", "so", "@channel", "hmm,"]


def alnum(n: int, alphabet: str = ALNUM) -> str:
    return "".join(rnd.choice(alphabet) for _ in range(n))


def digits(n: int) -> str:
    return "".join(rnd.choice(string.digits) for _ in range(n))


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


def group(num: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(num[i:i + s])
        i += s
    return sep.join(out)


def person() -> str:
    return rnd.choice(FIRST)


def tool() -> str:
    return rnd.choice(TOOLS)


def opener() -> str:
    return rnd.choice(OPENERS)


# --- planted items: kind -> (mask class, value maker, sentence templates with {v}) ---------------------------

def _email():
    f, last, d = rnd.choice(FIRST), rnd.choice(LAST), rnd.choice(DOMAINS)
    local = rnd.choice([f"{f}.{last}", f"{f}{last[0]}", f"{f}_{last}", f"{f}+slack", f"{f[0]}.{last}{rnd.randint(1, 99)}",
                        f"{f.capitalize()}.{last.capitalize()}", f"{f}-{last}", f"support.{f}"])
    return f"{local}@{d}"


def _phone_us():
    n = f"{rnd.randint(201, 989)}"
    while n[1] == "1" or n.endswith("11"):
        n = f"{rnd.randint(201, 989)}"
    line = f"01{rnd.randint(0, 9)}{rnd.randint(0, 9)}"
    return rnd.choice([f"({n}) 555-{line}", f"{n}-555-{line}", f"+1 {n} 555 {line}", f"{n}.555.{line}",
                       f"+1-{n}-555-{line}", f"1-{n}-555-{line}"])


def _phone_uk():
    return rnd.choice([f"07911 {digits(6)}", f"07700 900{rnd.randint(100, 999)}", f"020 7946 0{rnd.randint(100, 999)}",
                       f"+44 7911 {digits(6)}", f"0161 496 0{rnd.randint(100, 999)}", f"+44 (0)20 7946 0{rnd.randint(100, 999)}",
                       f"07{rnd.randint(400, 999)} {digits(6)}"])


def _phone_de():
    return rnd.choice([f"0171 {rnd.randint(1000000, 9999999)}", f"030 {rnd.randint(10000000, 99999999)}",
                       f"+49 171 {rnd.randint(1000000, 9999999)}", f"0151 {rnd.randint(10000000, 99999999)}",
                       f"089 {rnd.randint(1000000, 9999999)}", f"+49 (0)30 {rnd.randint(1000000, 9999999)}",
                       f"0176 {rnd.randint(1000, 9999)} {rnd.randint(1000, 9999)}"])


def _phone_in():
    mob = f"9{rnd.randint(7, 9)}{digits(3)}"
    return rnd.choice([f"{mob} {digits(5)}", f"+91 {mob} {digits(5)}", f"+91-{mob}{digits(5)}",
                       f"0{mob} {digits(5)}", f"080 {rnd.randint(2000, 4999)} {digits(4)}", f"+91 {mob[:3]} {mob[3:]}{digits(2)} {digits(3)}"])


def _phone_intl():
    return rnd.choice([f"+33 6 {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)}",
                       f"+34 6{digits(2)} {digits(3)} {digits(3)}", f"+61 4{digits(2)} {digits(3)} {digits(3)}",
                       f"+55 11 9{digits(4)}-{digits(4)}", f"+31 6 {digits(8)}", f"+39 3{digits(2)} {digits(3)} {digits(4)}",
                       f"+81 90-{digits(4)}-{digits(4)}", f"+65 9{digits(3)} {digits(4)}"])


def _iban():
    country, bban = rnd.choice([
        ("DE", lambda: digits(18)), ("GB", lambda: alnum(4, string.ascii_uppercase) + digits(14)),
        ("FR", lambda: digits(10) + alnum(11, string.ascii_uppercase + string.digits) + digits(2)),
        ("NL", lambda: alnum(4, string.ascii_uppercase) + digits(10)), ("ES", lambda: digits(20)),
        ("IT", lambda: rnd.choice(string.ascii_uppercase) + digits(10) + digits(12)), ("BE", lambda: digits(12)),
    ])
    body = bban()
    check = stdnum_iban.calc_check_digits(country + "00" + body)
    compact = country + check + body
    if not stdnum_iban.is_valid(compact):
        return _iban()
    return rnd.choice([group(compact, [4] * 9, " ").strip(), compact])


def _ssn():
    while True:
        area = rnd.randint(1, 899)
        if area != 666:
            break
    v = f"{area:03d}-{rnd.randint(1, 99):02d}-{rnd.randint(1, 9999):04d}"
    return v if rnd.random() < 0.8 else v.replace("-", " ")


def _card():
    prefix, length, sizes = rnd.choice([("4", 16, [4, 4, 4, 4]), ("51", 16, [4, 4, 4, 4]), ("55", 16, [4, 4, 4, 4]),
                                        ("2221", 16, [4, 4, 4, 4]), ("34", 15, [4, 6, 5]), ("37", 15, [4, 6, 5]),
                                        ("6011", 16, [4, 4, 4, 4]), ("65", 16, [4, 4, 4, 4])])
    body = prefix + digits(length - len(prefix) - 1)
    num = body + luhn_digit(body)
    sep = rnd.choice([" ", "-", ""])
    return group(num, sizes, sep) if sep else num


def _ipv4():
    return rnd.choice([f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                       f"192.168.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                       f"172.{rnd.randint(16, 31)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                       f"203.0.113.{rnd.randint(1, 254)}", f"198.51.100.{rnd.randint(1, 254)}",
                       f"{rnd.randint(11, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"])


def _ipv6():
    groups = [f"{rnd.randint(1, 0xffff):x}" for _ in range(4)]
    return rnd.choice([f"2001:db8::{groups[0]}:{groups[1]}", f"2001:db8:{groups[0]}::{groups[1]}",
                       "2001:db8:" + ":".join(f"{rnd.randint(0, 0xffff):x}" for _ in range(6)),
                       f"fe80::{groups[0]}:{groups[1]}:{groups[2]}:{groups[3]}", f"2a02:{groups[0]}:{groups[1]}::{groups[2]}"])


def _jwt():
    header = base64.urlsafe_b64encode(json.dumps({"alg": rnd.choice(["HS256", "RS256"]), "typ": "JWT"}).encode()).decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps({"sub": digits(8), "name": person(), "iat": 1700000000 + rnd.randint(0, 10 ** 7)})
                                       .encode()).decode().rstrip("=")
    return f"{header}.{payload}.{alnum(43, B64URL)}"


def _bearer():
    return rnd.choice([alnum(40, HEX), alnum(32), alnum(24, ALNUM + "._-"), alnum(64, HEX)])


def _basic():
    user, pw = person(), alnum(rnd.randint(8, 14))
    return base64.b64encode(f"{user}:{pw}".encode()).decode()


def _api_key_header():
    return rnd.choice([alnum(32), alnum(40, HEX), "live_" + alnum(28), alnum(36, ALNUM + "-")])


def _password_url():
    return alnum(rnd.randint(8, 12)) + rnd.choice("!#%$") + alnum(3)


def _password_kw():
    return alnum(rnd.randint(7, 10)) + rnd.choice("!$@#") + digits(rnd.randint(2, 4))


def _slack_token():
    return rnd.choice([f"xoxb-{digits(12)}-{digits(13)}-{alnum(24)}",
                       f"xoxp-{digits(12)}-{digits(12)}-{digits(13)}-{alnum(32, HEX)}",
                       f"https://hooks.slack.com/services/T{alnum(8, string.ascii_uppercase + string.digits)}/"
                       f"B{alnum(8, string.ascii_uppercase + string.digits)}/{alnum(24)}",
                       f"xapp-1-A{alnum(10, string.ascii_uppercase + string.digits)}-{digits(13)}-{alnum(64, HEX)}"])


def _cloud_key():
    return rnd.choice(["AKIA" + alnum(16, string.ascii_uppercase + string.digits),
                       "AIza" + alnum(35, B64URL), "ASIA" + alnum(16, string.ascii_uppercase + string.digits)])


def _vcs_token():
    return rnd.choice(["ghp_" + alnum(36), "gho_" + alnum(36), "glpat-" + alnum(20, ALNUM + "_-"), "npm_" + alnum(36),
                       "github_pat_" + alnum(22) + "_" + alnum(59)])


def _llm_key():
    return rnd.choice(["sk-proj-" + alnum(48, B64URL), "sk-ant-api03-" + alnum(93, B64URL) + "AA", "hf_" + alnum(34),
                       "sk-" + alnum(48)])


def _private_key():
    body = "\n".join(alnum(64, ALNUM + "+/") for _ in range(3))
    kind = rnd.choice(["RSA ", "EC ", "OPENSSH ", ""])
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


PHONE_SENTENCES = ["{o} you can call me on {v} if the sync breaks again", "my mobile is {v}, whatsapp works too",
                   "for the onsite, reach {p} at {v}", "Phone: {v}", "{o} ring the NOC on {v} after 6pm",
                   "pls text {v} when {t} is back up", "contact for the pilot: {p} ({v})", "call {v} – ask for {p}",
                   "{p}'s number is {v}", "if I'm offline my landline is {v}"]
ITEMS = {
    "email": ("email", _email, ["{o} please write to {v} for access to the beta",
                                "the invoice for {t} went to {v}", "my personal mail is {v} btw",
                                "<{v}> wrote: the connector keeps timing out", "can someone add {v} to the workspace?",
                                "cc {v} on the RCA please", "Mail {v}, subject 'olake trial'"]),
    "phone_us": ("phone", _phone_us, PHONE_SENTENCES),
    "phone_uk": ("phone", _phone_uk, PHONE_SENTENCES),
    "phone_de": ("phone", _phone_de, PHONE_SENTENCES),
    "phone_in": ("phone", _phone_in, PHONE_SENTENCES),
    "phone_intl": ("phone", _phone_intl, PHONE_SENTENCES),
    "iban": ("iban", _iban, ["{o} wire the pilot fee to {v} please", "IBAN: {v} (company account)",
                             "our bank details changed, new IBAN {v}", "refund to {v}, thanks {p}",
                             "payout account {v} – reference INV-{n}"]),
    "ssn": ("ssn", _ssn, ["for the W-9 my SSN is {v}", "SSN: {v}", "HR asked for the social security number, it's {v}",
                          "{p}'s ssn {v} is on the contractor form"]),
    "credit_card": ("credit_card", _card, ["billing card on file: {v} exp 09/28", "use my card {v} for the hotel",
                                           "paid the {t} invoice with {v}, cvv in DM", "corporate card {v}",
                                           "{v} is the team card for cloud costs"]),
    "ipv4": ("ip", _ipv4, ["ssh into {v} and restart {t}", "the db is at {v}:5432", "blocked {v} in the firewall",
                           "server IP: {v}", "requests from {v} keep failing with 403", "{t} can't reach {v} from the VPC",
                           "host={v} port=3306 user=olake", "whitelist {v} on the RDS security group"]),
    "ipv6": ("ip", _ipv6, ["{t} binds to [{v}]:8000", "ping6 {v} works but curl doesn't", "node address {v}",
                           "the pod got {v} as its address"]),
    "jwt": ("secret", _jwt, ["{o} the token is {v} and it expires tomorrow",
                             "curl -H 'Authorization: Bearer {v}' https://api.olake.example/v1/jobs",
                             "session cookie: token={v}", "decoded {v} on jwt.io and the exp looks fine"]),
    "bearer_token": ("secret", _bearer, ["curl -H \"Authorization: Bearer {v}\" http://localhost:8000/api/v1/sources",
                                         "I pass Authorization: Bearer {v} and still get 401",
                                         "header was `Authorization: bearer {v}`", "tried with Bearer {v}, same error"]),
    "basic_auth": ("secret", _basic, ["request headers: Authorization: Basic {v}",
                                      "curl -H 'Authorization: Basic {v}' https://registry.example.io/v2/",
                                      "the proxy sends Basic {v} upstream"]),
    "api_key_header": ("secret", _api_key_header, ["curl -H 'X-API-Key: {v}' https://api.example.io/v1/sync",
                                                   "config: {{\"api_key\": \"{v}\"}}", "access_token={v}",
                                                   "set X-Auth-Token: {v} in postman", "my api key {v} stopped working"]),
    "password_in_url": ("secret", _password_url, ["connect with postgres://olake:{v}@db.acme.example:5432/main",
                                                  "JDBC url jdbc:mysql://admin:{v}@mysql.internal.example/app fails",
                                                  "mongodb://root:{v}@mongo-0.acme.example:27017/?authSource=admin"]),
    "password_kw": ("secret", _password_kw, ["password: {v}", "DB_PASSWORD={v} in the .env", "\"password\": \"{v}\",",
                                             "the sftp passwd is {v}", "MYSQL_ROOT_PASSWORD: {v}"]),
    "slack_token": ("secret", _slack_token, ["here's the bot token {v} don't share", "SLACK_BOT_TOKEN={v}",
                                             "webhook: {v}", "I pasted {v} by mistake, rotating now"]),
    "cloud_key": ("secret", _cloud_key, ["export AWS_ACCESS_KEY_ID={v}", "the maps key is {v}",
                                         "use {v} for the staging bucket", "`aws_access_key_id = {v}`"]),
    "vcs_token": ("secret", _vcs_token, ["clone with https://{v}@github.com/acme/olake-fork.git",
                                         "GITHUB_TOKEN={v}", "my PAT {v} expired?", "//registry.npmjs.org/:_authToken={v}"]),
    "llm_key": ("secret", _llm_key, ["OPENAI_API_KEY={v}", "use {v} for the eval run", "key: {v}",
                                     "the HF token {v} has read scope only"]),
    "private_key": ("secret", _private_key, ["here is the deploy key:\n{v}\nthanks", "```\n{v}\n```",
                                             "ssh key for the bastion\n{v}"]),
}
PER_KIND = 14


# --- decoys: kind -> (value maker, templates) ---------------------------------------------------------------

def _ver4():
    return f"{rnd.randint(1, 12)}.{rnd.randint(0, 30)}.{rnd.randint(0, 9)}.{rnd.randint(0, 20)}"


DECOYS = {
    "version_rc": (lambda: f"{rnd.randint(1, 9)}.{rnd.randint(0, 9)}.{rnd.randint(0, 9)}.{rnd.randint(0, 9)}-"
                           f"{rnd.choice(['rc', 'rc1', 'beta', 'alpha.2', 'SNAPSHOT'])}",
                   ["we're testing {v} on staging", "the {v} build fixes the schema drift", "is {v} stable enough?"]),
    "version_after_name": (_ver4, ["{o} olake-ui {v} is out", "after upgrading to olake-worker {v} the sync hangs",
                                   "running olake {v} with docker", "image olakego/source-mongodb:v{v} pulled",
                                   "pip freeze says pyiceberg=={v}", "helm chart olake-{v}.tgz"]),
    "version_word": (_ver4, ["version {v} is the one we pin", "released v{v} yesterday", "bump to {v} please"]),
    "timestamp_file": (lambda: f"Logs-{rnd.randint(2024, 2026)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} "
                               f"{rnd.randint(0, 23):02d}_{rnd.randint(0, 59):02d}_{rnd.randint(0, 59):02d}.txt",
                       ["attached {v}", "uploaded {v} with the stack trace", "see {v} for the full run"]),
    "timestamp": (lambda: f"{rnd.randint(2024, 2026)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} "
                          f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}",
                  ["{v} INFO sync started for 12 streams", "the job failed at {v} UTC", "last successful run {v}"]),
    "timestamp_iso": (lambda: f"{rnd.randint(2024, 2026)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T"
                              f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}.{digits(3)}Z",
                      ["{\"level\":\"error\",\"time\":\"{v}\"}", "checkpoint written {v}"]),
    "epoch": (lambda: f"17{digits(8)}", ["cursor value {v} is in the state file", "the ts column has {v}"]),
    "slack_ts": (lambda: f"17{digits(8)}.{digits(6)}", ["thread_ts {v} in the payload", "message {v} was edited"]),
    "git_sha": (lambda: alnum(40, HEX), ["fixed in commit {v}", "cherry-pick {v} onto the release branch"]),
    "short_sha": (lambda: alnum(7, HEX), ["see {v} on main", "reverted {v}, try again"]),
    "scope_tokens": (lambda: rnd.choice(["std::vector", "Foo::Bar::baz", "serde_json::from_str", "Vec::new()",
                                          "org::apache::iceberg", "Result::unwrap", "::operator new", "a::b::c",
                                          "beef::cafe", "add::face"]),
                     ["panic in {v} when the batch is empty", "rust code calls {v} there", "look at {v}"]),
    "repl_prompt": (lambda: rnd.choice(["racket@foo.rkt", "racket@main.rkt", "scheme@(guile-user)", "user@main.py",
                                        "root@olake-worker-0", "jovyan@notebook.ipynb", "guest@sandbox.sh"]),
                    ["{v}> (define x 1)", "the prompt shows {v}> and then hangs", "at {v}:~$ docker ps"]),
    "port": (lambda: rnd.choice(["localhost:8000", "localhost:5432", ":9092", "0.0.0.0:8080", "127.0.0.1:27017",
                                 "host.docker.internal:3306", "[::1]:8080"]),
             ["the UI listens on {v}", "connection refused on {v}", "expose {v} in compose"]),
    "loopback": (lambda: rnd.choice(["127.0.0.1", "0.0.0.0", "::1"]), ["bind to {v} inside the container"]),
    "uuid": (lambda: f"{alnum(8, HEX)}-{alnum(4, HEX)}-4{alnum(3, HEX)}-a{alnum(3, HEX)}-{alnum(12, HEX)}",
             ["job id {v} is stuck", "source {v} shows no streams"]),
    "sha256": (lambda: "sha256:" + alnum(64, HEX), ["image digest {v}", "checksum {v} matches"]),
    "big_count": (lambda: f"{rnd.randint(1000000000, 9999999999)}", ["processed {v} rows overnight",
                                                                     "the table has {v} records"]),
    "duration_ms": (lambda: f"{rnd.randint(1000000, 99999999)} ms", ["full load took {v}"]),
    "order_id": (lambda: f"#{rnd.randint(1000, 99999)}", ["see PR {v}", "issue {v} tracks this"]),
    "isbn": (lambda: f"978-{rnd.randint(0, 1)}-{rnd.randint(100, 999)}-{rnd.randint(10000, 99999)}-{rnd.randint(0, 9)}",
             ["ISBN {v} is the book I mentioned"]),
    "date": (lambda: f"{rnd.randint(1, 28):02d}.{rnd.randint(1, 12):02d}.{rnd.randint(2024, 2026)}",
             ["deadline {v}", "we meet on {v} at 10:30"]),
    "npm_scope": (lambda: f"@types/node@{rnd.randint(14, 22)}.{rnd.randint(0, 9)}.{rnd.randint(0, 9)}",
                  ["npm i {v} fixed it"]),
    "git_ssh": (lambda: f"git@github.com:datazip-inc/{rnd.choice(['olake', 'olake-ui', 'olake-docs'])}.git",
                ["clone {v} first"]),
    "lsn": (lambda: f"{rnd.randint(0, 9)}/{alnum(8, '0123456789ABCDEF')}", ["replication slot at LSN {v}"]),
    "placeholder_secret": (lambda: rnd.choice(["${DB_PASSWORD}", "<your-token>", "xoxb-your-token", "changeme",
                                               "********", "{{ secrets.API_KEY }}"]),
                           ["password: {v}", "set the token to {v}"]),
    "auth_prose": (lambda: rnd.choice(["Bearer authentication", "Basic auth", "bearer token", "authorization header"]),
                   ["does the API support {v}?", "{v} is enabled on the proxy"]),
    "s3_path": (lambda: f"s3://olake-{alnum(5, string.ascii_lowercase)}/{rnd.randint(2024, 2026)}/{rnd.randint(1, 12):02d}/"
                        f"part-{digits(5)}.parquet", ["files land in {v}"]),
    "arn": (lambda: f"arn:aws:iam::{digits(12)}:role/olake-{alnum(5, string.ascii_lowercase)}",
            ["assume {v} from the worker"]),
    "mention": (lambda: f"<@U{alnum(10, string.ascii_uppercase + string.digits)}>", ["{v} can you take a look?"]),
    "size": (lambda: f"{rnd.randint(1, 64) * 1024} MB", ["the worker has {v} of memory"]),
}
DECOYS_PER_KIND = 5


def fill(template: str, v: str) -> str:
    t = (template.replace("{o}", opener()).replace("{p}", person()).replace("{t}", tool())
         .replace("{n}", str(rnd.randint(1000, 9999))).replace("{{", "{").replace("}}", "}"))
    return t.replace("{v}", v)


def main() -> None:
    rows = []
    for kind, (mask_kind, make, templates) in ITEMS.items():
        for i in range(PER_KIND):
            value = make()
            text = fill(templates[i % len(templates)], value)
            decoys = []
            if i % 3 == 0:  # a decoy in the same message: the two must be told apart in one string
                dkind = rnd.choice(sorted(DECOYS))
                dmake, dtemplates = DECOYS[dkind]
                dv = dmake()
                text = f"{text}\n{fill(rnd.choice(dtemplates), dv)}"
                decoys.append({"kind": dkind, "value": dv})
            rows.append({"text": text, "items": [{"kind": kind, "mask": mask_kind, "value": value}], "decoys": decoys})
    for dkind, (dmake, dtemplates) in DECOYS.items():
        for i in range(DECOYS_PER_KIND):
            dv = dmake()
            rows.append({"text": fill(dtemplates[i % len(dtemplates)], dv), "items": [],
                         "decoys": [{"kind": dkind, "value": dv}]})
    # The split: within each kind (first item kind, else first decoy kind) alternate tune/report.
    seen: dict[str, int] = {}
    order = list(range(len(rows)))
    rnd.shuffle(order)
    for n, idx in enumerate(order):
        r = rows[idx]
        key = r["items"][0]["kind"] if r["items"] else "decoy:" + r["decoys"][0]["kind"]
        r["split"] = "tune" if seen.get(key, 0) % 2 == 0 else "report"
        seen[key] = seen.get(key, 0) + 1
    for i, r in enumerate(rows):
        r["id"] = i
        for x in r["items"] + r["decoys"]:
            assert x["value"] in r["text"], (x, r["text"])
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps({k: r[k] for k in ("id", "split", "text", "items", "decoys")},
                                      ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(OUT)
    n_items = sum(len(r["items"]) for r in rows)
    n_decoys = sum(len(r["decoys"]) for r in rows)
    print(f"{OUT}: {len(rows)} rows, {n_items} planted items of {len(ITEMS)} kinds, {n_decoys} decoys of "
          f"{len(DECOYS)} kinds")


if __name__ == "__main__":
    main()
