"""Reading BEIR-format folders: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class BeirFormatError(ValueError):
    pass


@dataclass
class BeirData:
    corpus: dict[str, dict]          # doc id -> {"title", "text"}
    queries: dict[str, str]          # query id -> text (only those judged in the split)
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance > 0}
    split: str


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BeirFormatError(f"{path}:{n}: not JSON ({exc.msg})") from None
            if "_id" not in row:
                raise BeirFormatError(f"{path}:{n}: row has no _id")
            rows.append(row)
    return rows


def load_beir(folder: str | Path, split: str = "test") -> BeirData:
    d = Path(folder)
    for need in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (d / need).is_file():
            raise BeirFormatError(f"{d} is not a BEIR folder: {need} is missing")
    corpus = {str(r["_id"]): {"title": r.get("title") or "", "text": r.get("text") or ""}
              for r in _read_jsonl(d / "corpus.jsonl")}
    all_queries = {str(r["_id"]): str(r.get("text") or "") for r in _read_jsonl(d / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with (d / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if len(parts) < 3:
                raise BeirFormatError(f"qrels/{split}.tsv:{i + 1}: expected query-id, corpus-id, score")
            if i == 0 and not parts[-1].strip().lstrip("-").isdigit():
                continue  # header row
            score = int(parts[-1])
            if score > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = score
    queries = {q: t for q, t in all_queries.items() if q in qrels}
    missing = set(qrels) - set(queries)
    if missing:
        raise BeirFormatError(f"{len(missing)} judged queries are missing from queries.jsonl (e.g. {min(missing)})")
    return BeirData(corpus=corpus, queries=queries, qrels=qrels, split=split)
