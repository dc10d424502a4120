from ingest.cleaning import clean_message, clean_text, filter_reason
from ingest.types import SlackMessageRecord

USERS = {"U1": "Lena Park", "U2": "tom"}
CHANNELS = {"C9": "hr-help"}


def rec(**kw) -> SlackMessageRecord:
    kw.setdefault("channel_id", "C1")
    kw.setdefault("ts", "1.000001")
    kw.setdefault("user_id", "U1")
    kw.setdefault("raw_text", "hello")
    return SlackMessageRecord(**kw)


def test_user_mention_becomes_display_name():
    assert clean_text("<@U1> can you check?", USERS) == "@Lena Park can you check?"
    assert clean_text("ask <@U7|sam>", USERS) == "ask @sam"  # unknown user: the label Slack gave
    assert clean_text("ping <@U8>", USERS) == "ping @U8"


def test_channel_mention_becomes_hash_name():
    assert clean_text("see <#C9|hr-help>", USERS, CHANNELS) == "see #hr-help"
    assert clean_text("see <#C9>", USERS, CHANNELS) == "see #hr-help"


def test_links_keep_label_and_url():
    assert clean_text("<https://wiki.example/leave|the leave policy>") == "the leave policy (https://wiki.example/leave)"
    assert clean_text("<https://wiki.example/x>") == "https://wiki.example/x"
    assert clean_text("<https://wiki.example/x|wiki.example/x>") == "https://wiki.example/x"
    assert clean_text("<mailto:hr@acme.example|hr@acme.example>") == "hr@acme.example"


def test_special_mentions_and_dates():
    assert clean_text("<!here> deploy at 5") == "@here deploy at 5"
    assert clean_text("<!subteam^S1|@oncall> help") == "@oncall help"
    assert clean_text("due <!date^1700000000^{date}|Nov 14>") == "due Nov 14"


def test_entities_decoded():
    assert clean_text("a &lt; b &amp;&amp; c &gt; d") == "a < b && c > d"


def test_emoji_shortcodes_kept_as_text():
    assert clean_text("shipped :tada: :white_check_mark:") == "shipped :tada: :white_check_mark:"


def test_code_blocks_preserved_verbatim():
    raw = "run this:\n```\nif a &lt; b:\n    print(&quot;<@U1>&quot;)\n```\nand `x &amp; y`"
    out = clean_text(raw, USERS)
    assert "```\nif a < b:\n    print(\"<@U1>\")\n```" in out  # mention markup inside code is not rewritten
    assert "`x & y`" in out


def test_filter_reasons_are_recorded():
    assert filter_reason(rec(subtype="channel_join", text="x")) == "system:channel_join"
    assert filter_reason(rec(subtype="channel_topic", text="x")) == "system:channel_topic"
    assert filter_reason(rec(subtype="bot_message", user_id=None, text="build ok")) == "bot"
    assert filter_reason(rec(bot_id="B1", text="deploy done")) == "bot"
    assert filter_reason(rec(user_id="UBOT", text="hi"), {"UBOT"}) == "bot"
    assert filter_reason(rec(user_id="USLACKBOT", text="reminder")) == "bot"
    assert filter_reason(rec(text="  ")) == "empty"
    assert filter_reason(rec(subtype="thread_broadcast", text="answer")) is None
    assert filter_reason(rec(subtype="file_share", text="see file")) is None


def test_clean_message_names_files_and_uses_attachments_for_empty_text():
    m = clean_message(rec(raw_text="", files=["q3-budget.xlsx"]), USERS, CHANNELS)
    assert m.text == "[file: q3-budget.xlsx]" and m.filtered is None
    m = clean_message(rec(raw_text="", bot_id="B1", attachments_text="Build <https://ci.example/1|#1> passed"),
                      USERS, CHANNELS)
    assert m.text == "Build #1 (https://ci.example/1) passed" and m.filtered == "bot"
