"""File formats of a dataset version.

- chat messages JSONL: {"id", "messages": [{"role", "content"}], "meta"} — OpenAI's fine-tuning shape, which
  LLaMA-Factory reads as "sharegpt" with OpenAI tags, Axolotl as `chat_template`, torchtune as
  `chat_dataset(conversation_style="openai")`. The chat template is applied by the trainer, not here.
- Alpaca JSONL: {"instruction", "input", "output", "system", "id", "meta"} (single-turn kinds).
- plain text JSONL: {"text", "id", "meta"} for continued pretraining.
`meta` has one fixed shape in every line (signals as a JSON string) so Arrow-based loaders infer one schema.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from ingest.datasets.emoji import shortcodes_to_unicode
from ingest.datasets.examples import Example

SPLITS = ("train", "validation", "test")


def example_meta(ex: Example) -> dict[str, Any]:
    return {"kind": ex.kind, "conversation_id": ex.conversation_id, "channel_id": ex.channel_id,
            "channel": ex.channel_name, "source_ts": list(ex.source_ts), "permalinks": list(ex.permalinks),
            "quality": float(ex.quality), "reasons": list(ex.reasons), "language": ex.language, "split": ex.split,
            "signals": json.dumps(ex.signals, sort_keys=True), "passages": [dict(p) for p in ex.passages]}


def chat_record(ex: Example) -> dict[str, Any]:
    return {"id": ex.example_id, "messages": [dict(t) for t in ex.messages], "meta": example_meta(ex)}


def alpaca_record(ex: Example) -> dict[str, Any]:
    """Single-turn view: the last user turn is the instruction; the asker's extra details go to `input`."""
    system = next((t["content"] for t in ex.messages if t["role"] == "system"), "")
    question = ex.question
    instruction, _, details = question.partition("\n\nMore details: ")
    return {"instruction": instruction, "input": details, "output": ex.answer, "system": system,
            "id": ex.example_id, "meta": example_meta(ex)}


def text_record(doc_id: str, text: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc_id, "text": text, "meta": meta}


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def llamafactory_info(files: dict[str, dict[str, str]], prefix: str) -> dict[str, Any]:
    """dataset_info.json entries; `files` maps kind -> split -> file name (relative to the version folder,
    which is LLaMA-Factory's dataset_dir)."""
    info: dict[str, Any] = {}
    for kind, by_split in sorted(files.items()):
        for split, name in sorted(by_split.items()):
            key = f"{prefix}_{kind}_{split}"
            if kind.endswith("_alpaca"):
                info[key] = {"file_name": name, "formatting": "alpaca",
                             "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                         "system": "system"}}
            elif kind == "text":
                info[key] = {"file_name": name, "columns": {"prompt": "text"}}
            else:
                info[key] = {"file_name": name, "formatting": "sharegpt", "columns": {"messages": "messages"},
                             "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                      "assistant_tag": "assistant", "system_tag": "system"}}
    return info


def training_kind(files: dict[str, dict[str, str]]) -> str | None:
    """The one set of files a trainer config points at. The kinds overlap — `train.jsonl` (the mix) holds one
    example per conversation drawn from chat/qa/rag, `qa_alpaca` is `qa` in another shape, `text` is every
    conversation again — so listing several would train the same conversation two or three times."""
    for kind in ("mixed", "persona", "qa", "chat", "text"):
        if kind in files and "train" in files[kind]:
            return kind
    return None


def _alternatives(files: dict[str, dict[str, str]], chosen: str | None) -> list[str]:
    others = [f"{k}: {v['train']}" for k, v in sorted(files.items()) if k != chosen and "train" in v]
    if not others:
        return []
    return ["# Other kinds of this version (each overlaps the mix: use one INSTEAD of it, never together):"] + [
        f"#   {o}" for o in others]


def axolotl_yaml(files: dict[str, dict[str, str]], root: Path) -> str:
    """`datasets:` / `test_datasets:` blocks for an Axolotl config (absolute paths of the final version folder).
    Lists one kind only (`training_kind`): each example is trained once."""
    def block(kind: str, name: str) -> list[str]:
        path = (root / name).as_posix()
        if kind.endswith("_alpaca"):
            return [f"  - path: {path}", "    ds_type: json", "    type: alpaca"]
        if kind == "text":
            return [f"  - path: {path}", "    ds_type: json", "    type: completion", "    field: text"]
        return [f"  - path: {path}", "    ds_type: json", "    type: chat_template", "    field_messages: messages",
                "    message_property_mappings:", "      role: role", "      content: content",
                "    roles_to_train: [\"assistant\"]"]
    kind = training_kind(files)
    lines = ["# Axolotl dataset blocks for this Teamlore dataset version: the files do not overlap."]
    lines += _alternatives(files, kind)
    lines.append("datasets:")
    if kind:
        lines += block(kind, files[kind]["train"])
    if kind and "validation" in files[kind]:
        lines.append("test_datasets:")
        lines += block(kind, files[kind]["validation"])
        lines.append("    split: train")
    return "\n".join(lines) + "\n"


def torchtune_yaml(files: dict[str, dict[str, str]], root: Path) -> str:
    """`dataset:` entry for a torchtune recipe config (train split of one kind: `training_kind`)."""
    kind = training_kind(files)
    lines = ["# torchtune dataset component for this Teamlore dataset version: the files do not overlap."]
    lines += _alternatives(files, kind)
    lines.append("dataset:")
    if kind:
        path = (root / files[kind]["train"]).as_posix()
        if kind.endswith("_alpaca"):
            lines += ["  - _component_: torchtune.datasets.alpaca_dataset", "    source: json",
                      f"    data_files: {path}", "    split: train", "    train_on_input: false"]
        elif kind == "text":
            lines += ["  - _component_: torchtune.datasets.text_completion_dataset", "    source: json",
                      f"    data_files: {path}", "    column: text", "    split: train"]
        else:
            lines += ["  - _component_: torchtune.datasets.chat_dataset", "    source: json",
                      f"    data_files: {path}", "    conversation_column: messages",
                      "    conversation_style: openai", "    split: train", "    train_on_input: false"]
    return "\n".join(lines) + "\n"


def llamafactory_yaml(files: dict[str, dict[str, str]], root: Path, prefix: str) -> str:
    """The dataset part of a LLaMA-Factory training config: `dataset_info.json` registers every file of the
    version; this picks the one non-overlapping kind (`training_kind`) to train and evaluate on."""
    kind = training_kind(files)
    lines = ["# LLaMA-Factory dataset arguments for this Teamlore dataset version: the files do not overlap.",
             f"dataset_dir: {root.as_posix()}"]
    lines += _alternatives(files, kind)
    if kind:
        lines.append(f"dataset: {prefix}_{kind}_train")
        if "validation" in files[kind]:
            lines.append(f"eval_dataset: {prefix}_{kind}_validation")
    return "\n".join(lines) + "\n"


def transcript(messages: Sequence[Any], names: dict[str, str]) -> str:
    """Plain-text rendering of a conversation for continued pretraining (emoji shortcodes as Unicode)."""
    return "\n".join(f"{names.get(m.speaker) or m.user_name or m.speaker}: {shortcodes_to_unicode(m.text.strip())}"
                     for m in messages)
