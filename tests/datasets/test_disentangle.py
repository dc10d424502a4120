"""The learned reply-link disentangler: IRC and Slack records, the shipped model, the scorer, the evidence rule."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score

from ingest.datasets.disentangle import (LinkWeights, adjusted_rand, disentangle, exact_conversation_f1, one_to_one,
                                         score_clustering, time_gap_baseline)
from ingest.datasets.irc import (irc_conversations, parse_annotation, parse_log, read_log, retimed_channel,
                                 strip_address)
from ingest.datasets.records import Msg
from ingest.datasets.replylink import FEATURES, MODEL_PATH, Candidates, load_model, to_records
from tests.conftest import shared_data

DATA = Path(__file__).resolve().parent.parent / "data" / "disentangle"
T0 = 1_500_000_000.0


def slack(sec: float, user: str, text: str, name: str | None = None) -> Msg:
    """A Slack message as the builder sees it: user ids, `<@U…>` in the raw text, rendered `@Name` in the text."""
    names = {"U1": "Ana", "U2": "Ben", "U3": "Cem", "U4": "Dora"}
    rendered = text
    for uid, n in names.items():
        rendered = rendered.replace(f"<@{uid}>", f"@{n}")
    ts = f"{T0 + sec:.6f}"
    return Msg(channel_id="C1", ts=ts, user_id=user, text=rendered, user_name=name or names.get(user),
               raw_text=text, permalink=f"https://acme.slack.com/archives/C1/p{ts.replace('.', '')}")


def test_irc_log_is_read_as_messages_with_second_times_and_gold_components():
    log = read_log(DATA / "tiny-irc.ascii.txt")
    assert sorted(log.lines) == [0, 2, 3, 4, 5, 6, 7, 8]  # the join line (1) is not a message
    msgs = log.messages
    assert [m.user_id for m in msgs][:3] == ["alice", "carol", "bob"]
    times = [m.time for m in msgs]
    assert times == sorted(times) and len(set(times)) == len(times)  # spread over the minute, past midnight
    assert times[3] - times[0] < 5 * 60  # 23:58 -> 00:00 is two minutes, not a day back
    gold = log.gold()
    assert {k for k, v in gold.items() if v == 0} == {0, 3, 5}
    assert {k for k, v in gold.items() if v == 2} == {2, 4, 6, 7, 8}
    assert parse_annotation("1000 1009 -\n5 5 -\n") == [(1009, 1000), (5, 5)]
    assert parse_log("garbage\n[10:00] * alice waves") [1].text == "* alice waves"


def test_irc_nick_addressing_and_slack_mentions_become_the_same_record():
    irc = to_records(read_log(DATA / "tiny-irc.ascii.txt").messages)
    assert irc[2].mentions == {"alice"} and irc[2].addressed == {"alice"}  # "alice: install ntfs-3g …"
    sl = to_records([slack(0, "U1", "how do I rotate the api key?"),
                     slack(60, "U2", "<@U1> settings, then keys, then rotate"),
                     slack(90, "U1", "thanks @Ben that worked", name="Ana")])
    assert sl[1].mentions == {"U1"} and sl[1].addressed == {"U1"}
    assert sl[2].mentions == {"U2"} and sl[2].thanks  # a rendered @Name resolves to the user id
    assert sl[0].question and not sl[0].mentions


def test_interleaved_irc_conversations_are_separated():
    log = read_log(DATA / "tiny-irc.ascii.txt")
    lines = sorted(log.lines)
    # 8 lines are too few to tell an IRC channel's pace (minute timestamps spread over the minute): read as IRC
    pred = disentangle([log.lines[ln] for ln in lines], LinkWeights(pace="dense"))
    gold = [log.gold()[ln] for ln in lines]
    assert adjusted_rand(gold, pred) == 1.0
    assert adjusted_rand(gold, time_gap_baseline([log.lines[ln] for ln in lines])) == 0.0  # one blob


def slack_channel() -> tuple[list[Msg], list[int]]:
    """Two interleaved help conversations, then three hours of silence, then a new, unrelated question that
    shares words with the first one, and a late reply that @-mentions the first asker."""
    msgs = [slack(0, "U1", "How do I rotate the staging database password? The vault path changed."),
            slack(40, "U3", "Is the deploy pipeline broken for anyone else? My build hangs at the cache step"),
            slack(95, "U2", "<@U1> run `vault rotate staging/db` and restart the api pods"),
            slack(130, "U4", "<@U3> yes, the runner cache is full, I'm clearing it now"),
            slack(170, "U1", "<@U2> thanks, rotation worked"),
            slack(200, "U3", "<@U4> build passes again, thank you"),
            slack(200 + 3 * 3600, "U4", "What is the staging password policy for the new contractors?"),
            slack(260 + 3 * 3600, "U2", "<@U4> contractors get read-only vault roles, no database passwords")]
    return msgs, [0, 1, 0, 1, 0, 1, 2, 2]


def test_slack_replies_link_to_the_mentioned_message_and_silence_ends_a_conversation():
    """Each @-mention reply picks the message of the person it names; a new question asked 40 s after another one
    by someone else, naming nobody, starts its own conversation (the opener rule); after three hours of silence a
    question that shares words with an old one starts a conversation of its own."""
    msgs, gold = slack_channel()
    parents = load_model().antecedents(to_records(msgs))
    assert parents == [0, 1, 0, 1, 2, 3, 6, 6]
    pred = disentangle(msgs)
    assert adjusted_rand(gold, pred) == 1.0
    assert adjusted_rand(gold, time_gap_baseline(msgs)) < 1.0
    # order of the input does not matter: messages are taken in time order
    shuffled = list(range(len(msgs)))
    random.Random(3).shuffle(shuffled)
    again = disentangle([msgs[i] for i in shuffled])
    assert adjusted_rand([pred[i] for i in shuffled], again) == 1.0


def test_the_opener_rule_separates_a_new_question_and_only_a_new_one():
    """Without the opener rule the Slack-pace weights link the second opener to the first (the over-merge of
    BENCHMARKS.md); with it, only a long question that names nobody, from someone new to the channel, with no
    reply evidence, is cut loose: a short follow-up question, or one that @-mentions someone, still links."""
    msgs, gold = slack_channel()
    assert disentangle(msgs, LinkWeights(opener=False))[1] == 0  # merged
    assert disentangle(msgs, LinkWeights(opener=True))[1] == 1
    model = load_model()
    assert model.opener_new_speaker and model.opener_min_words >= 8
    short = [msgs[0], slack(40, "U3", "does it fail on staging too?")]  # a helper's short question: a reply
    assert len(set(disentangle(short))) == 1
    named = [msgs[0], slack(40, "U3", "<@U1> is the deploy pipeline broken for you too? My build hangs at the "
                                      "cache step of the staging job")]
    assert len(set(disentangle(named))) == 1
    returning = [slack(-600, "U3", "morning all"), *msgs[:2]]  # U3 spoke today: not a newcomer, the rule stays out
    # (U1's question, from a newcomer, may be cut loose; U3's is not: it links to an earlier message)
    assert model.antecedents(to_records(returning), opener=True)[2] != 2


def test_help_channel_features_open_question_answer_cue_same_run_and_returning_asker():
    """The pairwise/self features added in session 4, on a tiny channel: a question still waiting (its asker has
    not spoken since) and an answer-like reply from someone else; the speaker's own previous message right
    before; a question from someone back after a pause."""
    from ingest.datasets.replylink import _PI, MENTION_SHARE_FLOOR
    msgs = [slack(0, "U1", "How do I make read_csv skip the footer rows of an export?"),
            slack(60, "U3", "deploys are frozen until friday"),
            slack(1500, "U2", "try skipfooter=3 with engine python"),
            slack(1560, "U2", "the C engine does not support it"),
            slack(1620, "U1", "worked, thanks"),
            slack(1700, "U4", "is the VPN down for anyone?"),
            slack(4700, "U1", "Another one: how do I read only some columns?")]
    recs = to_records(msgs)
    assert recs[2].answer_cue and not recs[0].answer_cue and not recs[5].answer_cue
    cand = Candidates(recs, time_scale=1.0)

    def row(i, j):
        X, idx, _ = cand.for_message(i)
        return X[idx.index(j)]
    assert row(2, 0)[_PI["open_question"]] == 1 and row(2, 0)[_PI["answer_cue_open_question"]] == 1
    assert row(2, 0)[_PI["open_question_x_gap_log"]] > 3  # log1p(25 min)
    assert row(2, 1)[_PI["open_question"]] == 0  # not a question
    assert row(3, 2)[_PI["same_prev"]] == 1 and row(4, 3)[_PI["same_prev"]] == 0
    assert row(5, 0)[_PI["open_question"]] == 0  # U1 has spoken since, and a question is not an answer
    X6, idx6, _ = cand.for_message(6)
    assert row(6, 0)[_PI["open_question"]] == 0
    # U1 asks again 51 minutes after their last message: the self row carries it (a follow-up question would not)
    assert abs(X6[0][_PI["self_question_own_gap_log"]] - math.log1p((4700 - 1620) / 60.0)) < 1e-4
    assert cand.for_message(4)[0][0][_PI["self_question_own_gap_log"]] == 0  # "worked, thanks": no question
    assert cand.for_message(2)[0][0][_PI["self_answer_cue"]] == 1
    # how much the channel names its addressees: the share of the window with a mention, floored where nobody does
    assert cand.for_message(3)[0][0][_PI["self_mention_share"]] == MENTION_SHARE_FLOOR
    named = to_records([*msgs[:2], slack(90, "U2", "<@U1> try skipfooter"), slack(120, "U1", "<@U2> thanks"),
                        slack(150, "U3", "the freeze ends friday")])
    Xn, idxn, _ = Candidates(named, time_scale=1.0).for_message(4)
    assert Xn[0][_PI["self_mention_share"]] == 0.5  # 2 of the 4 messages before it
    assert Xn[idxn.index(3)][_PI["latest_other_x_unaddressed"]] == 0.5  # U1's message is the latest of another
    assert Xn[idxn.index(1)][_PI["latest_other_x_unaddressed"]] == 0.0  # U3 itself


def test_hours_of_silence_need_reply_evidence():
    q = slack(0, "U1", "Which region hosts the analytics cluster for the reporting jobs?")
    later = slack(4 * 3600, "U2", "The reporting jobs moved to the new analytics cluster last week")
    mention = slack(4 * 3600, "U2", "<@U1> it is in eu-west-1, the analytics cluster")
    assert len(set(disentangle([q, later], LinkWeights(self_bias=-50.0)))) == 2  # no evidence: never linked
    assert len(set(disentangle([q, mention], LinkWeights(self_bias=-50.0)))) == 1  # a mention is evidence
    assert disentangle([]) == []


def test_scorer_matches_sklearn_and_one_to_one_by_hand():
    rng = random.Random(0)
    for _ in range(20):
        g = [rng.randint(0, 5) for _ in range(40)]
        p = [rng.randint(0, 7) for _ in range(40)]
        assert abs(adjusted_rand(g, p) - adjusted_rand_score(g, p)) < 1e-9
    # gold {0,1,2}{3,4}; pred {0,1}{2,3,4}: best matching keeps 2 + 2 of 5 messages
    assert one_to_one([0, 0, 0, 1, 1], [5, 5, 6, 6, 6]) == 0.8
    s = score_clustering([0, 0, 1, 1, 2], [7, 7, 8, 8, 9])
    assert s == {"ari": 1.0, "f1": 1.0, "f1_multi": 1.0, "one_to_one": 1.0}


def test_shipped_model_is_the_trained_artefact():
    d = json.loads(MODEL_PATH.read_text())
    assert d["features"] == list(FEATURES) and len(d["weights"]) == len(d["dense_weights"]) == len(FEATURES)
    assert "re-timed" in d["meta"]["trained_on"] and "dev proxy" in d["meta"]["chosen_on"]
    assert "ubuntu-irc" in d["meta"]["dense_trained_on"] and "dev" in d["meta"]["dense_chosen_on"]
    assert MODEL_PATH.stat().st_size < 20_000  # small, shipped with the package
    model = load_model()
    for weights in (model.weights, model.dense_weights):
        w = dict(zip(FEATURES, weights))
        # what the IRC annotators' links teach, in the direction any reader expects
        assert w["mention"] > 0 and w["gap_log"] < 0 and w["mention_other"] < 0
    assert model.reference_pace_s < model.dense_below_pace_s < 40


def test_an_irc_busy_channel_uses_the_dense_weights_and_a_slack_paced_one_the_slack_weights():
    model = load_model()
    busy = to_records([slack(k * 6.0, f"U{k % 4 + 1}", f"line {k}") for k in range(30)])
    slow = to_records([slack(k * 90.0, f"U{k % 4 + 1}", f"line {k}") for k in range(30)])
    assert model.weights_for(busy)[0] is model.dense_weights
    assert model.weights_for(slow)[0] is model.weights
    assert model.weights_for(slow[:2])[0] is model.weights  # too short to tell: the Slack weights


def talks_channel(talks) -> tuple[list[Msg], list[int]]:
    """Slack messages of conversations given as [(second, user, text), …] each, with their gold labels."""
    msgs, gold = [], []
    for k, talk in enumerate(talks):
        for sec, user, text in talk:
            msgs.append(slack(sec, user, text))
            gold.append(k)
    return msgs, gold


def quiet_channel_without_mentions() -> tuple[list[Msg], list[int]]:
    """A quiet help channel where nobody @-mentions: each question is answered minutes later by whoever is
    around, the asker follows up, and the next question comes 25-70 minutes after the last reply — except one
    question asked while another is still being answered, and one answer that comes 15 minutes late."""
    talks = [
        [(0, "U1", "How do I pin a dependency to a git commit in poetry?"),
         (180, "U2", "poetry add git+https://github.com/org/repo.git#<sha> works"),
         (260, "U1", "perfect, that did it")],
        [(1500, "U3", "Anyone seen the pytest fixture scope error with async generators?"),
         (1720, "U4", "use pytest-asyncio's fixture decorator instead of the plain one"),
         (1800, "U3", "ah right, I was on the old plugin version"),
         (1830, "U4", "the 0.21 release changed the default mode too")],
        [(1760, "U1", "is the docs site down for anyone else?"),
         (1790, "U2", "yes, they are redeploying it, back in a few minutes")],
        [(6000, "U2", "What is the fastest way to read a 10GB csv with pandas?"),
         (6900, "U4", "chunksize in read_csv, or switch to polars scan_csv"),
         (7000, "U2", "polars did it in seconds, thanks")],
        [(10000, "U4", "Can someone review my PR on the logging refactor?"),
         (10240, "U3", "looking at it now"),
         (10600, "U3", "left two comments, otherwise fine")],
    ]
    return talks_channel(talks)


def within(gold, pred) -> bool:
    """Every gold conversation lies inside one predicted conversation (no reply split off its question)."""
    return all(len({p for g2, p in zip(gold, pred) if g2 == g}) == 1 for g in set(gold))


def test_a_quiet_channel_without_mentions_is_not_over_split():
    """The failure the IRC-only weights have on Slack-like channels: without `nick:` addresses they start a new
    conversation at many replies (on the proxies: below the time-gap rule). The Slack-pace weights keep every
    reply with its question here. (They still merge two pairs of neighbouring conversations: a short question
    asked in the middle of another by someone who spoke half an hour earlier, and one asked 50 minutes after the
    last reply by someone who answered in the conversation before. The opener rule only cuts loose long
    questions from people new to the channel that day; a rule for questions after 20-45 min of silence lowered
    the dev proxies and is off. See BENCHMARKS.md.)"""
    msgs, gold = quiet_channel_without_mentions()
    pred = disentangle(msgs)
    assert within(gold, pred) and len(set(pred)) >= 3
    assert not within(gold, disentangle(msgs, LinkWeights(pace="dense")))


def help_channel_late_answer() -> tuple[list[Msg], list[int]]:
    """A help channel paced like the calibrated proxies: quick exchanges, one question that waits 35 minutes for
    its first answer (naming nobody), and a new question 50 minutes after the last reply from someone who took
    part in the conversation before it."""
    talks = [
        [(0, "U1", "How do I make pandas read_csv skip the footer rows of a bank export?"),
         (70, "U2", "use skipfooter=3 and engine='python' in read_csv"),
         (130, "U1", "that worked, thanks")],
        [(3000, "U3", "Anyone know how to set the default branch when creating a repo from the cli?"),
         (3000 + 2100, "U4", "you can pass --default-branch main to repo create"),
         (3000 + 2160, "U3", "perfect, that works")],
        [(9000, "U2", "What is the recommended way to run database migrations in CI?"),
         (9080, "U1", "we run alembic upgrade head as a separate job before the deploy step"),
         (9150, "U2", "ok, makes sense")],
        [(12150, "U1", "How do I make the linter ignore generated protobuf files in the repo?"),
         (12390, "U4", "add them to the exclude list in pyproject"),
         (12450, "U1", "done, thanks")],
    ]
    return talks_channel(talks)


def test_a_first_answer_half_an_hour_late_joins_its_question():
    """Session 4: the Slack-pace weights, trained with help-channel shapes (a wait before the first answer) and
    the open-question / answer-cue features, keep a reply that comes 35 minutes after the question and names
    nobody with it; the 10-minute rule and the session-3 weights (checked by hand: [0,0,0,1,2,2,3,3,3,3,3,3])
    split it off. Still wrong after session 5's conversation features too (the known error, BENCHMARKS.md: the
    learned "speaker already in the conversation" pulls it there): the new question asked 50 minutes after the last
    reply by U1, who answered in the conversation before, joins that conversation."""
    msgs, gold = help_channel_late_answer()
    model = load_model()
    recs = to_records(msgs)
    assert model.weights_for(recs)[0] is model.weights
    pred = disentangle(msgs)
    assert pred[3] == pred[4] == pred[5] and len({pred[0], pred[3], pred[6]}) == 3
    assert within(gold[:9], pred[:9])
    base = time_gap_baseline(msgs)
    assert base[3] != base[4]
    assert pred[9] == pred[6]  # the known error, pinned: fix it and change this line
    # the open-question and answer-cue features push it there: without their weights the link to the waiting
    # question wins by less
    X, idx, _ = Candidates(recs, time_scale=model.pace_scale(recs)).for_message(4)
    w = model.weights.copy()
    for f in ("open_question", "open_question_x_gap_log", "answer_cue_open_question", "self_answer_cue"):
        w[FEATURES.index(f)] = 0.0
    margin = lambda weights: float((X @ weights)[idx.index(3)] - (X @ weights)[0])  # noqa: E731
    assert margin(model.weights) > margin(w) + 0.5 and margin(model.weights) > 0


def test_retimed_irc_channels_keep_the_gold_and_strip_only_addresses():
    log = read_log(DATA / "tiny-irc.ascii.txt")
    gold = log.gold()
    convs: dict[int, list[Msg]] = {}
    for ln in sorted(gold):
        convs.setdefault(gold[ln], []).append(log.lines[ln])
    cs = list(convs.values())
    msgs, labels, origin = retimed_channel(cs, stretch=10.0, arrival_s=3600.0, seed=1, with_origin=True)
    assert len(msgs) == sum(map(len, cs)) and [m.time for m in msgs] == sorted(m.time for m in msgs)
    for m, lab, (ci, k) in zip(msgs, labels, origin):
        assert lab == ci and m.text == cs[ci][k].text
        if k:  # the gaps inside a conversation are stretched ten times
            first = next(x for x, o in zip(msgs, origin) if o == (ci, 0))
            assert abs((m.time - first.time) - 10.0 * (cs[ci][k].time - cs[ci][0].time)) < 1e-2
    bare = strip_address(cs)
    addressed = [(a, b) for c, cb in zip(cs, bare) for a, b in zip(c, cb) if a.text != b.text]
    assert addressed and all(a.text.endswith(b.text) and a.text.split()[0].rstrip(":,") in {m.speaker for c in cs
                             for m in c} for a, b in addressed)


def test_help_channel_shape_waits_for_the_first_answer_and_varies_the_pace():
    """`retimed_channel`'s help-channel options (the calibrated proxies and the training shapes of session 4): a
    conversation's first message by someone other than its opener, and everything after it, come one extra wait
    later; each conversation gets its own stretch in [stretch, stretch_max]; without them nothing changes."""
    log = read_log(DATA / "tiny-irc.ascii.txt")
    gold = log.gold()
    convs: dict[int, list[Msg]] = {}
    for ln in sorted(gold):
        convs.setdefault(gold[ln], []).append(log.lines[ln])
    cs = list(convs.values())
    plain = retimed_channel(cs, stretch=2.0, arrival_s=600.0, seed=4)
    assert retimed_channel(cs, stretch=2.0, arrival_s=600.0, seed=4, stretch_max=None, answer_wait_s=0.0) == plain
    seen_waits, seen_stretch = set(), set()
    for seed in range(6):
        msgs, labels, origin = retimed_channel(cs, stretch=1.0, arrival_s=600.0, seed=seed, with_origin=True,
                                               stretch_max=8.0, answer_wait_s=1800.0)
        at = {o: m.time for m, o in zip(msgs, origin)}
        for ci, c in enumerate(cs):
            # message 1 answers the opener (another speaker) in both tiny conversations; 2 follows it
            assert c[1].speaker != c[0].speaker
            wait_and_gap = at[(ci, 1)] - at[(ci, 0)]
            s = (at[(ci, 2)] - at[(ci, 1)]) / (c[2].time - c[1].time)
            assert 1.0 - 1e-3 <= s <= 8.0 + 1e-3
            wait = wait_and_gap - s * (c[1].time - c[0].time)
            assert wait >= 0
            seen_waits.add(round(wait))
            seen_stretch.add(round(s, 2))
            for k in range(2, len(c)):  # after the first answer only the (stretched) gaps of the log
                assert abs(at[(ci, k)] - at[(ci, 1)] - s * (c[k].time - c[1].time)) < 1e-2
    assert len(seen_waits) > 5 and len(seen_stretch) > 5 and max(seen_waits) > 600


def test_on_the_irc_test_split_the_model_beats_the_time_gap_rule():
    folder = shared_data("disentanglement", "ubuntu-irc", "test")
    ours, gap = [], []
    for p in sorted(folder.glob("*.ascii.txt"))[:1]:  # one file keeps the test fast; all ten: the benchmark
        log = read_log(p)
        lines = sorted(log.lines)
        msgs = [log.lines[ln] for ln in lines]
        gold = log.gold()
        keep = [k for k, ln in enumerate(lines) if ln in gold]
        g = [gold[lines[k]] for k in keep]
        pred, base = disentangle(msgs), time_gap_baseline(msgs)
        ours.append(score_clustering(g, [pred[k] for k in keep]))
        gap.append(score_clustering(g, [base[k] for k in keep]))
    for metric in ("ari", "f1", "one_to_one"):
        assert sum(s[metric] for s in ours) > sum(s[metric] for s in gap) + 0.1 * len(ours), metric


def test_on_slack_paced_irc_channels_without_addresses_the_model_beats_the_time_gap_rule():
    """The proxy of benchmarks/disentangle_proxies.py on IRC test conversations (never used for any choice):
    re-timed to a quiet Slack channel, leading `nick:` addresses stripped."""
    convs = strip_address(irc_conversations(shared_data("disentanglement", "ubuntu-irc", "test")))
    msgs, gold = retimed_channel(convs, stretch=5.0, arrival_s=21600.0, seed=2001)
    ours, gap = score_clustering(gold, disentangle(msgs)), score_clustering(gold, time_gap_baseline(msgs))
    for metric in ("ari", "f1", "one_to_one"):
        assert ours[metric] > gap[metric] + 0.05, (metric, ours, gap)


def test_a_slow_channel_links_replies_minutes_later_and_splits_at_hours():
    """Slack help channels answer in minutes, not the seconds of the IRC training channel: a reply 6-9 minutes
    after a question (no mention) belongs to it; the next question three hours later does not."""
    msgs, gold = [], []
    topics = [("How many vacation days do we get per year?", "25 days of paid leave per calendar year."),
              ("Where do I request parental leave?", "In PeopleHub under Time Off, pick parental leave."),
              ("Is there a budget for home office chairs?", "Yes, 400 euros once, submit the receipt in Spendly."),
              ("When are salaries paid each month?", "On the last working day of the month."),
              ("Can I work from another country for a few weeks?", "Up to 20 working days a year, tell HR first.")]
    for k, (q, a) in enumerate(topics):
        t = k * 3 * 3600.0
        msgs += [slack(t, "U1" if k % 2 else "U3", q), slack(t + 360 + 60 * k, "U2", a),
                 slack(t + 500 + 60 * k, "U1" if k % 2 else "U3", "great, thanks!")]
        gold += [k, k, k]
    model = load_model()
    assert model.weights_for(to_records(msgs))[0] is model.weights  # the Slack-pace weights
    assert adjusted_rand(gold, disentangle(msgs)) == 1.0
    # the IRC-only (dense) weights split these replies off: what went wrong on Slack-like channels before
    assert adjusted_rand(gold, disentangle(msgs, LinkWeights(pace="dense"))) < 1.0


def test_conversation_features_read_only_the_conversations_formed_before():
    """Session 5: the conversation-level columns of a candidate come from the conversations of the earlier
    messages (never a later one): membership of the speaker, latest message, silence, size, an opener still
    alone, a member's question after a silence, and a silence over 30 min without reply evidence."""
    import numpy as np

    from ingest.datasets.replylink import _PI, ConversationState, conversation_features
    msgs = [slack(0, "U1", "How do I rotate the staging database password?"),
            slack(60, "U2", "run vault rotate and restart the pods"),
            slack(120, "U3", "Is the deploy pipeline broken for anyone else?"),
            slack(120 + 3000, "U2", "What is the password policy for contractors?")]
    recs = to_records(msgs)
    state = ConversationState()
    for i, parent in enumerate([0, 0, 2]):
        state.add(i, parent, recs[i].speaker)
    X, idx, ev = Candidates(recs).for_message(3)
    conversation_features(X, idx, ev, recs, state, 1.0)
    col = lambda f: {j: float(X[idx.index(j), _PI[f]]) for j in (0, 1, 2)}  # noqa: E731
    assert col("conv_speaker_in") == {0: 1.0, 1: 0.0, 2: 0.0}  # U2 answered in conversation 0; row 1 is U2's own
    assert col("conv_last") == {0: 0.0, 1: 1.0, 2: 1.0}
    assert col("conv_size_log") == pytest.approx({0: math.log1p(2), 1: math.log1p(2), 2: math.log1p(1)})
    assert col("conv_one_speaker") == {0: 0.0, 1: 0.0, 2: 1.0}  # U3's question still waits for an answer
    silence = math.log1p((120 + 3000 - 60) / 60.0)
    assert col("conv_member_q_gap_log") == pytest.approx({0: silence, 1: silence, 2: 0.0})
    assert col("conv_rgap_gt30m_noev") == {0: 1.0, 1: 1.0, 2: 1.0}  # 51 min / 50 min of silence, no evidence
    assert col("conv_speaker_latest") == {0: 1.0, 1: 1.0, 2: 0.0}  # U2 spoke last in conversation 0
    assert col("conv_turn") == {0: 0.0, 1: 0.0, 2: 0.0}  # conversation 0's latest message is U2's own
    assert not X[0, [_PI[f] for f in FEATURES if f.startswith("conv_")]].any()  # the "new conversation" row
    assert np.isfinite(X).all()
    # the asker back in a two-person talk, after the helper's reply: their turn
    talk = to_records([slack(0, "U1", "How do I rotate the staging database password?"),
                       slack(60, "U2", "run vault rotate and restart the pods"),
                       slack(120, "U1", "tried it, the pods still use the old one")])
    state = ConversationState()
    state.add(0, 0, "U1")
    state.add(1, 0, "U2")
    X, idx, ev = Candidates(talk).for_message(2)
    conversation_features(X, idx, ev, talk, state, 1.0)
    assert [float(X[idx.index(j), _PI["conv_turn"]]) for j in (0, 1)] == [1.0, 1.0]
    assert [float(X[idx.index(j), _PI["conv_two_party"]]) for j in (0, 1)] == [0.0, 1.0]  # U2's message only


def test_conversation_decoding_sums_the_evidence_spread_over_a_conversation():
    """"conversation" decoding: two messages of one conversation that each score a little below a single message
    of another conversation win together; "link" takes the single best message; a new conversation wins only
    against the most likely conversation as a whole."""
    import numpy as np

    from ingest.datasets.replylink import pick
    idx, root = [3, 2, 1, 0], [0, 0, 2]  # message 3; messages 0 and 1 form conversation 0, message 2 its own
    s = np.array([0.0, 1.5, 1.0, 1.0])  # itself, message 2, message 1, message 0
    assert pick(s, idx, root, "link") == 1
    assert pick(s, idx, root, "conversation") == 2  # e + e > e^1.5: conversation 0, its best message (1)
    assert pick(np.array([1.8, 1.5, 1.0, 1.0]), idx, root, "conversation") == 0  # e^1.8 > e + e
    assert pick(np.array([0.0, 1.5, 1.0, -np.inf]), idx, root, "conversation") == 1  # a forbidden row adds nothing
    with pytest.raises(ValueError):
        load_model().antecedents(to_records(slack_channel()[0]), decode="best")


def test_the_mention_heavy_sample_channel_no_longer_over_splits():
    """Session 4's regression on the sample workspace's #engineering (dense @-mentions, threads hidden plus
    hand-made gold for its interleaved exchanges: ARI / F1 0.683 / 0.364 → 0.609 / 0.242): with the conversation
    features it is 0.687 / 0.412 (BENCHMARKS.md); guarded here against the session-4 level."""
    import dataclasses

    from benchmarks.dataset_common import SAMPLE, SAMPLE_GOLD, load_export
    from ingest.datasets.conversations import usable
    gold_eng = {ts: c["conversation"] for c in json.loads(SAMPLE_GOLD.read_text())["conversations"] for ts in c["ts"]}
    snap = load_export(SAMPLE)
    cid = next(c.channel_id for c in snap.channels if c.name == "engineering")
    msgs = sorted((m for m in snap.messages if m.channel_id == cid and not usable(m)), key=lambda m: m.time)
    gold = [gold_eng.get(m.ts) or m.thread_ts or m.ts for m in msgs]
    flat = [dataclasses.replace(m, thread_ts=None) for m in msgs]
    assert len(flat) == 58
    ours = score_clustering(gold, disentangle(flat))
    gap = score_clustering(gold, time_gap_baseline(flat))
    assert ours["ari"] > 0.65 and ours["f1"] > 0.35  # session 4: 0.609 / 0.242
    assert ours["ari"] > gap["ari"] + 0.1 and ours["f1"] > gap["f1"] + 0.3
