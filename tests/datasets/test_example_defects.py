"""Each defect of issue 20's review of a dataset build, guarded on a small workspace built for it.

The review found: non-answers (thanks, "we'll get back to you", CC lines, requests for logs, acknowledgements) as
responses; PR offers and review requests treated as questions; mid-thread "questions" from pieces of split
threads; a refuted reply or a reply to a later follow-up chosen in long threads; one question in several examples
of a file; a test split of 1 %; trainer configs listing overlapping files; examples without the opening
question's permalink.
"""
from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import yaml

from ingest.datasets.build import BuildOptions, WorkspaceSnapshot, build, split_key
from ingest.datasets.conversations import channel_conversations
from ingest.datasets.examples import chat_example, qa_example
from ingest.datasets.formats import read_jsonl
from ingest.datasets.records import Channel
from tests.datasets.workspace import PEOPLE, msg

SUPPORT = Channel("C7", "support", "public")

TOPICS = ["the nightly export", "the billing report", "the VPN client", "the build cache", "the staging deploy",
          "the search index", "the SSO login", "the backup job", "the metrics dashboard", "the mail relay",
          "the printer queue", "the wiki editor", "the CI runner", "the release script", "the data warehouse load",
          "the webhook retries", "the mobile push", "the audit log", "the cron scheduler", "the image resizer"]

NON_ANSWERS = ["Thanks for reporting, we will get back to you soon.", "CC: @Cem",
               "Could you please share the full logs and your config?", "ok", "thanks!",
               "We are looking into it and will update you.", "I don't know, sorry.",
               "just ask the channel your actual question"]


def _good_thread(k: int, start: float) -> list:
    topic = TOPICS[k]
    return [msg(SUPPORT, start, "U1", f"How do I fix {topic} failing with 'permission denied' since Monday?",
                thread=start),
            msg(SUPPORT, start + 1, "U2", f"Hi @Ana, {topic} runs as the service account, which lost its role on "
                                          f"Monday. Grant it again with `grant-role svc-{k} writer` and rerun.",
                thread=start),
            msg(SUPPORT, start + 2, "U1", "that worked, thank you!", thread=start)]


def support_channel() -> list:
    m = []
    for k in range(len(TOPICS)):
        m += _good_thread(k, 100 * k)
    t = 3000.0  # only non-answers: thanks, promises, CC, a log request, acknowledgements
    m += [msg(SUPPORT, t, "U4", "Why does the quarterly sales export time out after ten minutes?", thread=t)]
    m += [msg(SUPPORT, t + 1 + i, "U2" if i % 2 else "U3", text, thread=t) for i, text in enumerate(NON_ANSWERS)]
    t = 3100.0  # a review request
    m += [msg(SUPPORT, t, "U3", "I have raised a PR for issue #412 (https://git.example/pr/77). Could someone take a "
                                "look and review it when available?", thread=t),
          msg(SUPPORT, t + 1, "U2", "Please add tests and a screenshot of the result to the PR description first, "
                                    "we review tested changes only.", thread=t)]
    t = 3200.0  # an offer to contribute, referring to an earlier message
    m += [msg(SUPPORT, t, "U4", "Regarding the issue above I can try to tackle some of those issues in a PR",
              thread=t),
          msg(SUPPORT, t + 1, "U2", "Yes you can definitely do that, once we have verified it is a valid issue.",
              thread=t)]
    t = 3300.0  # an announcement
    m += [msg(SUPPORT, t, "U2", ":rocket: Workers v2.4.0 released :rocket:\nWhat's new: faster retries, a fixed "
                                "memory leak in the scheduler, and a new --dry-run flag.", thread=t),
          msg(SUPPORT, t + 1, "U4", "thank you for the merge so quick and the bump, great work on the scheduler fix",
              thread=t)]
    t = 3400.0  # a suggestion the asker refutes, then the fix
    m += [msg(SUPPORT, t, "U4", "The invoice PDF generator crashes with 'font not found' on the new server. Any idea?",
              thread=t),
          msg(SUPPORT, t + 1, "U3", "Try restarting the pdf worker, it caches the font list at startup.", thread=t),
          msg(SUPPORT, t + 2, "U4", "didn't work, still the same error", thread=t),
          msg(SUPPORT, t + 3, "U2", "The new server has no fonts package: install it with `apt install fonts-dejavu` "
                                    "and point FONT_DIR at /usr/share/fonts.", thread=t),
          msg(SUPPORT, t + 4, "U4", "that fixed it, thanks!", thread=t)]
    t = 3500.0  # the asker moves on to a new question; its answer is not the opening question's answer
    m += [msg(SUPPORT, t, "U1", "How can I rotate the API token for the reporting service?", thread=t),
          msg(SUPPORT, t + 1, "U2", "Run `reporting token rotate` as an admin; the old token stays valid for an hour.",
              thread=t),
          msg(SUPPORT, t + 2, "U1", "that worked, thanks. Separate thing: what is the recommended retention period "
                                    "for audit logs in production environments?", thread=t),
          msg(SUPPORT, t + 3, "U2", "Ninety days is the default we recommend for audit logs; compliance may want "
                                    "a full year.", thread=t)]
    t = 3600.0  # the same question asked again in another thread
    m += _good_thread(0, t)
    t = 4000.0  # a long thread, split into parts: the fix comes at the very end
    m += [msg(SUPPORT, t, "U4", "How do I stop the ingest pods from being OOM-killed during the nightly full load?",
              thread=t)]
    for i in range(1, 50):
        who = "U4" if i % 2 else "U3"
        m.append(msg(SUPPORT, t + i * 2 + (600 if i >= 25 else 0), who,
                     f"{i}. memory sample {i}: the pod peaked at {i * 3} GB while loading table batch {i % 6}",
                     thread=t))
    m += [msg(SUPPORT, t + 800, "U3", "@Dora the batch size is the cause: every thread holds a whole batch in "
                                      "memory. Set `max_threads: 4` in the source config and the load fits in 16 GB.",
              thread=t),
          msg(SUPPORT, t + 801, "U4", "that worked, no more OOM kills. thanks!", thread=t)]
    return m


def snapshot() -> WorkspaceSnapshot:
    return WorkspaceSnapshot([SUPPORT], list(PEOPLE), support_channel(), source="defects")


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    return build(snapshot(), BuildOptions(), tmp_path_factory.mktemp("defects")).path


def _records(folder, pattern="*.jsonl"):
    return [(p.name, r) for p in sorted(folder.glob(pattern)) for r in read_jsonl(p)]


def _examples(folder):
    """Every training example (chat, Q&A in both shapes, the mix), not the plain-text transcripts."""
    return [(n, r) for n, r in _records(folder) if not n.startswith("text.")]


def _first_user(r) -> str:
    if "instruction" in r:  # Alpaca
        return r["instruction"]
    if "text" in r:  # plain text for pretraining
        return r["text"]
    return next(t["content"] for t in r["messages"] if t["role"] == "user")


def _conv(text: str):
    return next(c for c in channel_conversations(SUPPORT, support_channel()) if text in c.messages[0].text)


NON_ANSWER_RE = re.compile(r"get back to you|\bCC: @|share the full logs|looking into it|don't know|ask the channel|"
                           r"^\s*(?:ok|thanks!?)\s*$", re.I | re.M)


def test_a_non_answer_is_never_a_response(version):
    # the thread of only non-answers gives no example at all
    conv = _conv("quarterly sales export")
    assert qa_example(conv) is None and chat_example(conv) is None
    for name, r in _examples(version):
        responses = [r["output"]] if "output" in r else [t["content"] for t in r["messages"] if t["role"] == "assistant"]
        for text in responses:
            assert not NON_ANSWER_RE.search(text), (name, text)
    # and each kind of non-answer alone, placed before a real fix, is not part of the response
    for text in NON_ANSWERS:
        m = [msg(SUPPORT, 0, "U1", "How do I reset the staging database to last night's snapshot?", thread=0),
             msg(SUPPORT, 1, "U3", text, thread=0),
             msg(SUPPORT, 2, "U2", "Run `db restore --snapshot nightly --env staging`; it takes about ten minutes.",
                 thread=0),
             msg(SUPPORT, 3, "U1", "that worked, thanks", thread=0)]
        ex = qa_example(channel_conversations(SUPPORT, m)[0])
        assert ex is not None and ex.answer.startswith("Run `db restore") and text not in ex.answer, text


@pytest.mark.parametrize("opening", ["I have raised a PR for issue #412", "Regarding the issue above I can try",
                                     ":rocket: Workers v2.4.0 released"])
def test_review_requests_offers_and_announcements_are_not_questions(version, opening):
    conv = _conv(opening)
    assert qa_example(conv) is None and chat_example(conv) is None
    assert not any(opening in _first_user(r) for _, r in _examples(version))


def test_a_later_piece_of_a_split_thread_is_not_a_question(version):
    parts = [c for c in channel_conversations(SUPPORT, support_channel()) if ":p" in c.conversation_id]
    assert len(parts) >= 2
    assert all(chat_example(p) is None and qa_example(p) is None for p in parts[1:])
    # no example opens with a mid-thread message ("25. memory sample 25: …")
    assert not any(re.match(r"\d+\. memory sample", _first_user(r)) for _, r in _examples(version))
    # the whole thread's fix, at its very end, answers its opening question, once
    qa = [r for _, r in _records(version, "qa.*.jsonl") if "OOM-killed" in _first_user(r)]
    assert len(qa) == 1 and "max_threads: 4" in qa[0]["messages"][-1]["content"]


def test_a_refuted_suggestion_and_an_answer_to_a_later_question_are_not_the_response():
    ex = qa_example(_conv("invoice PDF generator"))
    assert ex.answer.startswith("The new server has no fonts package") and "restarting" not in ex.answer
    ex = qa_example(_conv("rotate the API token"))
    assert ex.answer.startswith("Run `reporting token rotate`") and "Ninety days" not in ex.answer
    assert "retention" not in ex.question  # the new question is not a detail of the first


def test_a_question_appears_once_per_training_file(version):
    files = sorted(version.glob("*.jsonl"))
    assert any(p.name == "train.jsonl" for p in files) and any(p.name.startswith("qa.") for p in files)
    asked_twice = "How do I fix the nightly export failing"
    for p in files:
        if p.name.startswith("text."):
            continue  # plain transcripts for pretraining: every conversation once, by design
        rows = read_jsonl(p)
        firsts = [_first_user(r) if "messages" in r else r["instruction"] for r in rows]
        questions = [" ".join(q.partition("\n\nMore details: ")[0].lower().split()) for q in firsts]
        dupes = [q for q, n in Counter(questions).items() if n > 1]
        assert not dupes, (p.name, dupes)
        assert len({r["meta"]["conversation_id"] for r in rows}) == len(rows) or not p.name[0].isalpha()
    assert sum(asked_twice in _first_user(r) for _, r in _records(version, "qa.*.jsonl")) == 1


def test_test_split_holds_at_least_a_tenth_split_by_conversation(version):
    mix = {s: read_jsonl(version / f"{s}.jsonl") for s in ("train", "validation", "test")}
    total = sum(len(v) for v in mix.values())
    assert total >= 20 and len(mix["test"]) >= 0.1 * total
    split_of = {}
    for name, r in _records(version):
        if name.startswith("text.") or name == "heldout.jsonl":
            continue
        split = name.split(".")[1] if name.count(".") == 2 else name.split(".")[0]
        key = split_key(r["meta"]["conversation_id"])
        assert split_of.setdefault(key, split) == split, f"{key} in {split_of[key]} and {split}"


def test_export_configs_list_no_overlapping_files(version):
    axolotl = yaml.safe_load((version / "axolotl.yaml").read_text())
    torchtune = yaml.safe_load((version / "torchtune.yaml").read_text())
    llamafactory = yaml.safe_load((version / "llamafactory.yaml").read_text())
    import json
    info = json.loads((version / "dataset_info.json").read_text())
    lists = {"axolotl": [d["path"] for d in axolotl["datasets"]],
             "torchtune": [d["data_files"] for d in torchtune["dataset"]],
             "llamafactory": [str(version / info[n]["file_name"]) for n in str(llamafactory["dataset"]).split(",")]}
    for tool, paths in lists.items():
        ids, convs = Counter(), Counter()
        for path in paths:
            for r in read_jsonl(version / path.rsplit("/", 1)[-1]):
                ids[r["id"]] += 1
                convs[split_key(r["meta"]["conversation_id"])] += 1
        assert ids and max(ids.values()) == 1 and max(convs.values()) == 1, tool  # each conversation trained once
    # the evaluation file is another split: no conversation in both
    train_convs = {split_key(r["meta"]["conversation_id"]) for r in read_jsonl(version / "train.jsonl")}
    val = axolotl["test_datasets"][0]["path"].rsplit("/", 1)[-1]
    assert not train_convs & {split_key(r["meta"]["conversation_id"]) for r in read_jsonl(version / val)}


def test_every_example_links_the_opening_question_first(version):
    roots = {m.ts: m.permalink for m in support_channel() if m.thread_ts == m.ts}
    n = 0
    for name, r in _records(version):
        if name.startswith(("qa", "chat", "train", "validation", "test", "text")):
            thread_ts = split_key(r["meta"]["conversation_id"]).split(":", 1)[1]
            assert r["meta"]["permalinks"][0] == roots[thread_ts], name
            n += 1
    assert n >= 40


def test_in_a_flat_channel_the_response_speaks_to_the_asker():
    """Un-threaded: a message that does not address the asker is as likely part of another conversation ("grub"
    in the text is not the asker Grub being addressed); the addressed fix is the response."""
    from ingest.datasets import answers
    from ingest.datasets.records import Msg

    def m(k, who, text):
        return Msg("C8", f"{1000 + k}.000000", who, text, user_name=who)
    msgs = [m(0, "Grub", "After updating, my dual boot fails with 'error: no such partition' and GRUB rescue. "
                         "How do I get back into Ubuntu?"),
            m(1, "Ruahine", "I have a problem too: I installed Ubuntu over Arch and now grub shows an error at boot, "
                            "I believe the old grub config is still used. Any suggestions where to look?"),
            m(2, "Obrien", "Grub: boot the live USB and run `boot-repair`; choose the recommended repair, it "
                           "reinstalls grub for the EFI partition."),
            m(3, "Grub", "that worked, I can boot again")]
    assert answers.resolving_answers(msgs, "Grub", threaded=False) == [2]
    unaddressed = msgs[:2] + [m(2, "Obrien", "boot the live USB and run `boot-repair`, choose the recommended repair; "
                                             "it reinstalls grub for the EFI partition.")]
    assert answers.resolving_answers(unaddressed, "Grub", threaded=False) == []


def test_a_mention_only_message_is_not_a_turn_of_a_chat_example():
    """A helper pinging a colleague ("@Ben", the olake export's "@Nayan Joshi") said nothing: as an assistant turn
    it teaches the model to answer with a name."""
    t = 5000.0
    thread = [msg(SUPPORT, t, "U1", "Why does the VPN client drop every ten minutes on the office wifi?", thread=t),
              msg(SUPPORT, t + 1, "U3", "@Ben Kim", raw="<@U2>", thread=t),
              msg(SUPPORT, t + 2, "U1", "It started after the Monday update, if that helps.", thread=t),
              msg(SUPPORT, t + 3, "U2", "The Monday update turned on split tunnelling for IPv6: turn it off under "
                                        "Settings > Network and reconnect, the drops stop.", thread=t)]
    conv = next(c for c in channel_conversations(SUPPORT, thread))
    ex = chat_example(conv)
    assert [t["role"] for t in ex.messages] == ["user", "assistant"], ex.messages
    assert "Monday update, if that helps" in ex.messages[0]["content"] and "@Ben" not in json.dumps(ex.messages)
    assert ex.messages[1]["content"].startswith("The Monday update turned on split tunnelling")


def test_review_sample_marks_a_cut_text_and_closes_its_code_block():
    """review_sample.md shows the first 1,200 characters of a question: the reader must see that it was cut, and a
    code block the cut left open must not swallow the response below it."""
    from ingest.datasets.build import _review_markdown
    question = "How do I run it continuously?\n```" + "\n".join(f"2026-08-07 INFO line {i}" for i in range(200)) + "```"
    md = _review_markdown([{"kind": "qa", "channel": "help", "split": "train", "quality": 0.7, "permalink": None,
                            "question": question, "answer": "Schedule it with cron every 10 minutes."}])
    q_part = md.split("**Question**")[1].split("**Response**")[0]
    assert q_part.count("```") % 2 == 0, q_part[-200:]  # the fence the cut left open is closed
    assert "… (cut: 4,925 characters in all)" in q_part
    assert "> Schedule it with cron every 10 minutes." in md.split("**Response**")[1]
