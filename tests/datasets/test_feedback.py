"""Feedback -> SFT additions and preference pairs (ingest/datasets/feedback.py): which feedback becomes what,
lineage, privacy, masking, versioning and the base dataset carried over."""
from __future__ import annotations

import json

import pytest

from ingest.datasets.feedback import (FeedbackBuildError, FeedbackOptions, RatedAnswer, Rating, ResolvedThread,
                                      ReviewedExample, build_feedback_dataset, collect, question_key)
from ingest.datasets.formats import read_jsonl

T1, T2 = "2026-12-01T10:00:00+00:00", "2026-12-03T10:00:00+00:00"


def answers():
    return [
        RatedAnswer(1, "How do I reset the VPN?", "Run vpn-reset on your laptop [1].",
                    [Rating(1, "u-ana", None, "web", T1)], sources=[{"title": "VPN guide", "url": "https://w/vpn"}],
                    model_version="lora-a", mode="generative", at=T1),
        RatedAnswer(2, "how do I reset the vpn", "Reboot the office router.",
                    [Rating(-1, "u-bo", "wrong, that's the router", "slack", T2)], at=T2),
        RatedAnswer(3, "Where is the payroll form?", "It is on the wiki.",
                    [Rating(-1, "u-cy", None, "web", T2)], correction="HR portal > Forms > Payroll; mail hr@acme.io",
                    corrected_by="admin-1", at=T2),
        RatedAnswer(4, "Who owns billing?", "Nobody.", [Rating(-1, "u-ana", None, "web", T2)], at=T2),  # bare 👎
        RatedAnswer(5, "Is prod down?", "No.", [Rating(1, "u-ana", None, "web", T2),
                                                 Rating(-1, "u-bo", "yes it is", "web", T2)], at=T2),  # tie
        RatedAnswer(6, "Salary of Dana?", "120k per the DM.", [Rating(1, "u-ana", None, "slack", T2)],
                    private=True, at=T2),
        RatedAnswer(7, "How do I rotate keys?", "No idea.", [Rating(-1, "u-bo", "useless", "web", T2)], at=T2),
    ]


def test_which_feedback_becomes_what():
    sft, pairs, negatives, counts = collect(answers())
    kinds = sorted(s["meta"]["kind"] for s in sft)
    assert kinds == ["feedback_correction", "feedback_thumbs_up"]
    up = next(s for s in sft if s["meta"]["kind"] == "feedback_thumbs_up")
    lin = up["meta"]["lineage"]
    assert lin["message_id"] == 1 and lin["ratings"][0]["user"] == "u-ana" and lin["model_version"] == "lora-a"
    assert lin["sources"] == [{"title": "VPN guide", "url": "https://w/vpn"}]
    by_msg = {p["meta"]["lineage"]["message_id"]: p for p in pairs}
    assert set(by_msg) == {2, 3}
    # 👎 with a comment paired with the 👍 answer to the same question (other case and punctuation)
    assert by_msg[2]["chosen"][0]["content"] == "Run vpn-reset on your laptop [1]."
    assert by_msg[2]["rejected"][0]["content"] == "Reboot the office router."
    assert by_msg[2]["meta"]["lineage"]["chosen_from"] == "thumbs_up_same_question"
    assert by_msg[2]["meta"]["lineage"]["ratings"][0]["comment"] == "wrong, that's the router"
    # the admin's correction is the chosen answer, PII-masked; the corrector is recorded
    assert "hr@acme.io" not in by_msg[3]["chosen"][0]["content"] and "[EMAIL]" in by_msg[3]["chosen"][0]["content"]
    assert by_msg[3]["meta"]["lineage"]["corrected_by"] == "admin-1"
    assert [n["meta"]["lineage"]["message_id"] for n in negatives] == [7]
    assert counts["thumbs_down_without_comment"] == 1 and counts["conflicting_ratings"] == 1
    assert counts["answers_private_left_out"] == 1
    assert not any("Dana" in json.dumps(x) for x in sft + pairs + negatives)


def test_private_feedback_only_when_included_and_since_filters():
    sft, _, _, _ = collect(answers(), options=FeedbackOptions(include_private=True))
    assert any(s["meta"]["lineage"]["message_id"] == 6 for s in sft)
    sft, pairs, _, counts = collect(answers(), options=FeedbackOptions(since="2026-12-02T00:00:00+00:00"))
    assert counts["answers_before_since"] == 1  # message 1's 👍 is older
    assert not any(s["meta"]["lineage"].get("message_id") == 1 for s in sft)
    assert {p["meta"]["lineage"]["message_id"] for p in pairs} == {3}  # 2 has nothing to pair with any more


def test_threads_and_reviews():
    threads = [ResolvedThread("C1:1.0", "Deploy fails on step 3?", "Clear the cache, then rerun step 3.",
                              ["https://slack/p1"], bot_answer="Try again later.", bot_message_id=42, bot_rating=-1),
               ResolvedThread("C2:2.0", "Secret plan?", "Yes.", private=True)]
    reviewed = [ReviewedExample("ds1", "ex9", [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "a"}])]
    sft, pairs, _, counts = collect([], threads, reviewed)
    assert {s["meta"]["lineage"]["source"] for s in sft} == {"slack_thread", "review"}
    (p,) = pairs
    assert p["chosen"][0]["content"].startswith("Clear the cache") and p["rejected"][0]["content"] == "Try again later."
    assert p["meta"]["lineage"]["permalinks"] == ["https://slack/p1"] and p["meta"]["lineage"]["bot_message_id"] == 42
    assert counts["threads_private_left_out"] == 1


def test_versioned_folder_with_the_base_carried_over(tmp_path):
    base = tmp_path / "base"
    (base / "eval").mkdir(parents=True)
    (base / "train.jsonl").write_text(json.dumps({"id": "b1", "messages": [
        {"role": "user", "content": "x?"}, {"role": "assistant", "content": "y"}]}) + "\n")
    (base / "eval" / "heldout.jsonl").write_text('{"id": "h1", "messages": []}\n')
    (base / "manifest.json").write_text(json.dumps({"name": "slack-qa", "version": "basev1"}))
    r = build_feedback_dataset(answers(), tmp_path / "out", base_dir=base)
    assert r.created and r.path.name == r.version
    train = read_jsonl(r.path / "train.jsonl")
    assert train[0]["id"] == "b1"  # the base examples first, unchanged
    pairs = [p for s in ("train", "validation", "test") for p in read_jsonl(r.path / f"preference.{s}.jsonl")]
    assert len(pairs) == 2 and all(p["meta"]["split"] in ("train", "validation", "test") for p in pairs)
    assert (r.path / "eval" / "heldout.jsonl").read_text() == '{"id": "h1", "messages": []}\n'
    manifest = json.loads((r.path / "manifest.json").read_text())
    assert manifest["base"]["version"] == "basev1" and manifest["stats"]["counts"]["preference_pairs"] == 2
    again = build_feedback_dataset(answers(), tmp_path / "out", base_dir=base)
    assert again.version == r.version and not again.created
    other = build_feedback_dataset(answers()[:3], tmp_path / "out", base_dir=base)
    assert other.version != r.version
    # one question never sits in two splits
    assert question_key("How do I reset the VPN?") == question_key("how do I reset the vpn")


def test_nothing_usable_says_why(tmp_path):
    with pytest.raises(FeedbackBuildError, match="thumbs_down_without_comment: 1"):
        build_feedback_dataset([answers()[3]], tmp_path)
    assert not list(tmp_path.iterdir())
