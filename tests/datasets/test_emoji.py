"""Slack emoji shortcodes in training text: standard ones as Unicode, custom ones as typed, emoji-only replies no turn."""
from ingest.datasets.build import BuildOptions, WorkspaceSnapshot, build
from ingest.datasets.emoji import shortcodes_to_unicode
from ingest.datasets.formats import read_jsonl
from ingest.datasets.text import is_greeting_only
from tests.datasets.workspace import HELP, PEOPLE, msg


def test_standard_shortcodes_become_unicode_custom_and_code_stay():
    assert shortcodes_to_unicode("thanks :+1: :tada:") == "thanks 👍 🎉"
    assert shortcodes_to_unicode(":slightly_smiling_face: :simple_smile:") == "🙂 🙂"  # the second: not in rich
    assert shortcodes_to_unicode(":+1::skin-tone-3:") == "👍\U0001F3FC"
    assert shortcodes_to_unicode("ship it :olake: :shipit-parrot:") == "ship it :olake: :shipit-parrot:"
    assert shortcodes_to_unicode("run `echo :tada:` and\n```\nx = ':rocket:'\n```") == \
        "run `echo :tada:` and\n```\nx = ':rocket:'\n```"
    # times, ports, URLs and IPv6 are not shortcodes
    for text in ("at 12:24:40 UTC", "Logs-2026-06-08 13:34:09", "http://host:8080:100", "fe80::1:100:", "a:100:b"):
        assert shortcodes_to_unicode(text) == text
    assert shortcodes_to_unicode("score :100:") == "score 💯"
    assert shortcodes_to_unicode("OLake v0.3.7 Released:rotating_light:\nRelease notes") == \
        "OLake v0.3.7 Released🚨\nRelease notes"  # glued to a word, as the OLake release bot writes it


def test_emoji_only_message_is_greeting_only_in_either_form():
    for text in (":+1:", "👍", "👍🏼 ✔️", ":tada: :tada:", "thanks ❤️"):
        assert is_greeting_only(text), text
    assert not is_greeting_only("use ✔ to mark the row as done")


def test_built_training_text_carries_unicode_not_shortcodes(tmp_path):
    msgs = [msg(HELP, 0, "U1", "How do I rotate the staging TLS certificate? It expires tomorrow :scream:", thread=0),
            msg(HELP, 2, "U2", "Run `certbot renew --cert-name staging` on the bastion, then reload nginx "
                               ":slightly_smiling_face: our bot :olake: does it nightly otherwise.", thread=0,
                reactions={"white_check_mark": ["U1"]}),
            msg(HELP, 3, "U3", ":+1:", thread=0),
            msg(HELP, 4, "U1", "thanks, that worked :tada:", thread=0)]
    snap = WorkspaceSnapshot([HELP], PEOPLE, msgs, source="test")
    result = build(snap, BuildOptions(), tmp_path)
    rows = [r for p in sorted(result.path.glob("*.*.jsonl")) for r in read_jsonl(p)]
    qa = [r for p in result.path.glob("qa.*.jsonl") for r in read_jsonl(p)]
    assert qa, "the thread gives a Q&A pair"
    blob = "\n".join(str(r) for r in rows)
    assert "😱" in blob and "🙂" in blob
    assert ":scream:" not in blob and ":slightly_smiling_face:" not in blob and ":tada:" not in blob
    assert ":olake:" in blob  # custom emoji: no Unicode form, kept as the team typed it
    chats = [r for p in result.path.glob("chat.*.jsonl") for r in read_jsonl(p)]
    assert chats and all(t["content"].strip() not in ("👍", ":+1:") for r in chats for t in r["messages"])
