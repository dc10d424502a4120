"""Resolving-answer selection on the sample workspace.

`sample/questions.jsonl` quotes, for each question, the words of its answer (from the handbook or Slack; the
Slack answers agree with the handbook). Every public question whose gold text appears in a reply of a public
conversation is kept; the Q&A example the builder makes from that conversation is correct when its chosen
answer contains the gold text. Baselines: the first reply by someone other than the asker, and the last one.

    .venv/bin/python benchmarks/dataset_answers.py
"""
from __future__ import annotations

import json
from collections import Counter

from dataset_common import REPO, SAMPLE, load_export

from ingest.datasets.conversations import channel_conversations
from ingest.datasets.examples import answerer_weights, qa_example


def norm(t: str) -> str:
    return " ".join(t.replace("\u2019", "'").split()).lower()


def main():
    snap = load_export(SAMPLE)
    gold = [json.loads(l) for l in (REPO / "sample" / "questions.jsonl").read_text().splitlines() if l.strip()]
    gold = [g for g in gold if g["visibility"] == "public" and g["answer"]]
    convs = []
    for ch in snap.channels:
        if not ch.is_private:
            convs += channel_conversations(ch, [m for m in snap.messages if m.channel_id == ch.channel_id])
    weights = answerer_weights(convs, {p.user_id: p.title for p in snap.people})
    hits = Counter()
    rows = []
    for g in gold:
        ans = norm(g["answer"])
        conv = next((c for c in convs if any(ans in norm(m.text) for m in c.messages[1:])), None)
        if conv is None:  # answered only in the handbook
            continue
        others = [m for m in conv.messages if m.speaker != conv.asker]
        ex = qa_example(conv, weights)
        picks = {"teamlore": ex.answer if ex else "", "first_reply": others[0].text if others else "",
                 "last_reply": others[-1].text if others else ""}
        for k, v in picks.items():
            hits[k] += ans in norm(v)
        rows.append((g["question"], "ok" if ans in norm(picks["teamlore"]) else f"picked: {picks['teamlore'][:80]}"))
    n = len(rows)
    for q, r in rows:
        print(f"- {q[:70]:70} {r}")
    print(f"\n{n} questions: teamlore {hits['teamlore']}/{n}, first reply {hits['first_reply']}/{n}, "
          f"last reply {hits['last_reply']}/{n}")


if __name__ == "__main__":
    main()
