"""Dataset reading, chat-template tokenisation with assistant-only labels, and padding-free packing.

A Teamlore dataset version is a directory with `train.jsonl`, `validation.jsonl` and `test.jsonl`; each line is
{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}.

An example becomes (input_ids, targets) where targets are already shifted: targets[i] is the token that position i
must predict, or -100. Shifting per example (not per packed row) is what keeps packed examples independent: the last
token of one example never learns to predict the first token of the next.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from itertools import chain
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

IGNORE = -100

# Used when the tokenizer has no chat template of its own (base models, tokenizers trained here).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPLIT_NAMES = {
    "train": ["train.jsonl"],
    "validation": ["validation.jsonl", "valid.jsonl", "val.jsonl", "dev.jsonl"],
    "test": ["test.jsonl"],
}
ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}
ROLES = {"system", "user", "assistant"}


class DatasetError(ValueError):
    """The dataset cannot be used; the message says which file/line and why."""


def split_files(dataset_dir: str | Path) -> dict[str, Path]:
    """Map split name -> file for the splits present. `train` is required."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset directory {root} does not exist")
    found: dict[str, Path] = {}
    for split, names in SPLIT_NAMES.items():
        for name in names:
            if (root / name).is_file():
                found[split] = root / name
                break
    if "train" not in found:
        have = sorted(p.name for p in root.iterdir())
        raise DatasetError(f"{root} has no train.jsonl (found: {', '.join(have) or 'nothing'}); "
                           "expected train.jsonl, validation.jsonl, test.jsonl of chat messages")
    return found


def _normalise_messages(raw, where: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: 'messages' must be a non-empty list")
    out = []
    for j, m in enumerate(raw):
        if not isinstance(m, dict):
            raise DatasetError(f"{where}: message {j} is not an object")
        role = m.get("role", m.get("from"))
        content = m.get("content", m.get("value"))
        role = ROLE_ALIASES.get(role, role)
        if role not in ROLES:
            raise DatasetError(f"{where}: message {j} has role {role!r}; expected one of {sorted(ROLES)}")
        if not isinstance(content, str):
            raise DatasetError(f"{where}: message {j} content must be a string")
        out.append({"role": role, "content": content})
    return out


def jsonl_objects(path: Path, not_an_object: str) -> Iterator[tuple[int, str, dict]]:
    """(line number, "file:line", object) for each non-blank line of a JSONL split; a line that is not JSON, or
    not an object (`not_an_object` says what it should be), raises DatasetError naming the line."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DatasetError(f"{where}: {not_an_object}")
            yield lineno, where, obj


def read_chat_jsonl(path: str | Path) -> list[list[dict[str, str]]]:
    """Read one split. Blank lines are skipped; malformed lines raise with their line number."""
    convs = []
    for _, where, obj in jsonl_objects(Path(path), "expected an object with 'messages'"):
        raw = obj.get("messages", obj.get("conversations"))
        if raw is None:
            raise DatasetError(f"{where}: no 'messages' key (keys: {', '.join(sorted(obj))})")
        convs.append(_normalise_messages(raw, where))
    return convs


def read_texts(paths: Sequence[str | Path]) -> list[str]:
    """Plain-text corpus for pretraining: .txt/.md files (one document each) and .jsonl lines with 'text' or
    'messages' (rendered as 'role: content' lines). Directories are walked."""
    docs: list[str] = []
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix in {".txt", ".md", ".jsonl"})
        elif p.is_file():
            files.append(p)
        else:
            raise DatasetError(f"corpus path {p} does not exist")
    for f in files:
        if f.suffix == ".jsonl":
            for lineno, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{f.name}:{lineno}: not valid JSON ({exc.msg})") from None
                if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                    docs.append(obj["text"])
                elif isinstance(obj, dict) and "messages" in obj:
                    # rendered in ChatML so a model pretrained here already speaks the chat format
                    msgs = _normalise_messages(obj["messages"], f"{f.name}:{lineno}")
                    docs.append("".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in msgs))
        else:
            docs.append(f.read_text(encoding="utf-8", errors="replace"))
    return [d for d in docs if d.strip()]


@dataclass
class Example:
    input_ids: list[int]
    targets: list[int]  # shifted labels: targets[i] = token i+1 if it is trained on, else IGNORE

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        n = self.__dict__.get("_n_targets")
        if n is None or self.__dict__.get("_n_targets_of") is not self.targets:
            n = sum(t != IGNORE for t in self.targets)
            self.__dict__["_n_targets"], self.__dict__["_n_targets_of"] = n, self.targets
        return n


def shift(labels: Sequence[int]) -> list[int]:
    return list(labels[1:]) + [IGNORE]


def ensure_chat_template(tokenizer, template: str | None = None) -> None:
    if template:
        tokenizer.chat_template = template
    elif not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE


def _render(tokenizer, messages, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def tokenize_conversation(tokenizer, messages: list[dict[str, str]], max_seq_len: int) -> Example | None:
    """Render with the chat template and label assistant turns only (their content and end-of-turn marker).

    The assistant spans are found in characters by rendering growing prefixes of the conversation, then mapped to
    tokens through the fast tokenizer's offsets, so any template works as long as rendering is prefix-stable
    (every common template is). Returns None when truncation leaves no assistant token."""
    full = _render(tokenizer, messages, False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start_text = _render(tokenizer, messages[:i], True)
        end_text = _render(tokenizer, messages[: i + 1], False)
        if not full.startswith(end_text) or not end_text.startswith(start_text):
            raise DatasetError("the chat template does not render conversations prefix-stably; "
                               "pass chat_template= to use ChatML instead")
        spans.append((len(start_text), len(end_text)))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    bos = getattr(tokenizer, "bos_token_id", None)
    offsets = list(enc["offset_mapping"])
    if bos is not None and (not ids or ids[0] != bos) and not full.startswith(str(tokenizer.bos_token or "\0")):
        # Templates that do not print BOS themselves rely on the tokenizer adding it; keep it untrained.
        if getattr(tokenizer, "add_bos_token", False):
            ids, offsets = [bos] + ids, [(0, 0)] + offsets
    labels = [IGNORE] * len(ids)
    k = 0
    for t, (a, b) in enumerate(offsets):
        while k < len(spans) and spans[k][1] <= a:
            k += 1
        if k < len(spans) and b > spans[k][0] and a < spans[k][1] and b > a:
            labels[t] = ids[t]
    ids, labels = ids[:max_seq_len], labels[:max_seq_len]
    targets = shift(labels)
    if all(t == IGNORE for t in targets):
        return None
    return Example(ids, targets)


def tokenize_conversations(tokenizer, convs: Iterable[list[dict[str, str]]], max_seq_len: int) -> list[Example]:
    out = []
    for c in convs:
        ex = tokenize_conversation(tokenizer, c, max_seq_len)
        if ex is not None:
            out.append(ex)
    return out


def chunk_text_tokens(token_docs: Iterable[list[int]], block: int, eos_id: int | None) -> list[Example]:
    """Pretraining: documents joined with EOS and cut into blocks of `block` tokens; every token is a target
    (inside its block), so blocks pack with no padding at all."""
    stream: list[int] = []
    for ids in token_docs:
        stream.extend(ids)
        if eos_id is not None:
            stream.append(eos_id)
    out = []
    for i in range(0, len(stream) - 1, block):
        ids = stream[i:i + block]
        if len(ids) < 2:
            break
        out.append(Example(ids, shift(ids)))
    return out


# --- packing -------------------------------------------------------------------------------------

def pack_in_order(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Greedy sequential packing: fill a row with examples in data order, open a new row when the next one does
    not fit. Keeping order keeps the training data order identical to an unpacked run (loss parity)."""
    rows: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i, n in enumerate(lengths):
        if n > capacity:
            raise ValueError(f"example {i} has {n} tokens, more than a packed row ({capacity}); "
                             "raise micro_batch_tokens or lower max_seq_len")
        if cur and used + n > capacity:
            rows.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += n
    if cur:
        rows.append(cur)
    return rows


@dataclass
class PackedBatch:
    input_ids: torch.Tensor      # [1, T]
    position_ids: torch.Tensor   # [1, T], restarting at 0 for each example
    targets: torch.Tensor        # [1, T]
    cu_seqlens: torch.Tensor     # [n_docs + 1] int32, for varlen attention
    max_seqlen: int
    n_tokens: int                # real tokens (no padding)
    n_targets: int               # tokens that contribute to the loss
    loss_index: torch.Tensor | None = None    # [n_targets] positions that have a target (computed on the host,
    loss_targets: torch.Tensor | None = None  # so the loss needs no device->host sync); their targets

    def to(self, device, pin: bool = False) -> "PackedBatch":
        """Copy to `device` without blocking the host (pinned staging memory when `pin`)."""
        def mv(t):
            if t is None:
                return None
            if pin and t.device.type == "cpu":
                t = t.pin_memory()
            return t.to(device, non_blocking=True)
        return PackedBatch(mv(self.input_ids), mv(self.position_ids), mv(self.targets), mv(self.cu_seqlens),
                           self.max_seqlen, self.n_tokens, self.n_targets, mv(self.loss_index),
                           mv(self.loss_targets))


def _bucket(n: int, cap: int) -> int:
    """Next power of two >= n (at least 64), at most cap."""
    return min(cap, max(64, 1 << max(0, n - 1).bit_length()))


def collate_packed(examples: Sequence[Example], pad_to: int | None = None, pad_id: int = 0,
                   bucket_seqlen: bool = False) -> PackedBatch:
    """Concatenate examples into one row. With pad_to, the tail is filled with padding "documents" (their own
    positions, no targets) so every row has the same shape — what torch.compile wants.

    bucket_seqlen (with pad_to): max_seqlen is the longest example rounded up to a power of two, and the padding
    is cut into documents no longer than that. Flash varlen launches ceil(max_seqlen / 128) blocks per document and
    head, so an honest bound instead of the row length skips thousands of empty blocks, while the few bucket values
    keep torch.compile from recompiling per row."""
    lens = [len(ex) for ex in examples]
    n_real = sum(lens)
    ids = np.fromiter(chain.from_iterable(ex.input_ids for ex in examples), dtype=np.int64, count=n_real)
    tgt = np.fromiter(chain.from_iterable(ex.targets for ex in examples), dtype=np.int64, count=n_real)
    pos = [np.arange(n, dtype=np.int64) for n in lens]
    cu = [0, *np.cumsum(lens).tolist()]
    max_len = max(lens)
    if pad_to is not None and pad_to > n_real:
        extra = pad_to - n_real
        if bucket_seqlen:
            max_len = _bucket(max_len, pad_to)
            pieces = [max_len] * (extra // max_len) + ([extra % max_len] if extra % max_len else [])
        else:
            pieces = [extra]
            max_len = max(max_len, extra)
        for n in pieces:
            pos.append(np.arange(n, dtype=np.int64))
            cu.append(cu[-1] + n)
        ids = np.concatenate([ids, np.full(extra, pad_id, dtype=np.int64)])
        tgt = np.concatenate([tgt, np.full(extra, IGNORE, dtype=np.int64)])
    elif pad_to is not None and bucket_seqlen:
        max_len = _bucket(max_len, pad_to)
    pos_a = np.concatenate(pos)
    keep = np.flatnonzero(tgt != IGNORE)
    return PackedBatch(torch.from_numpy(ids)[None], torch.from_numpy(pos_a)[None], torch.from_numpy(tgt)[None],
                       torch.from_numpy(np.asarray(cu, dtype=np.int32)), int(max_len), n_real, int(keep.size),
                       torch.from_numpy(keep), torch.from_numpy(tgt[keep]))


def _split_for_ranks(rows: list[list[int]], world_size: int) -> list[list[int]] | None:
    """Split the longest rows in two until every rank gets the same number of rows. The step keeps exactly the
    same examples, so its loss and gradient do not depend on the number of ranks."""
    rows = [list(r) for r in rows]
    while len(rows) % world_size:
        big = max(range(len(rows)), key=lambda r: len(rows[r]))
        if len(rows[big]) < 2:
            return None
        half = len(rows[big]) // 2
        rows[big:big + 1] = [rows[big][:half], rows[big][half:]]
    return rows


def plan_steps(examples: Sequence[Example], tokens_per_step: int, micro_batch_tokens: int, world_size: int = 1,
               examples_per_step: int | None = None) -> list[list[list[int]]]:
    """Group packed rows into optimizer steps: step -> all its packed rows (lists of example indices).

    A step closes within half a row of tokens_per_step real tokens (or after examples_per_step examples). The set of
    examples of each step does not depend on world_size; under DDP rank r takes rows[r::world_size]."""
    groups: list[list[list[int]]] = []
    if examples_per_step:
        for s in range(0, len(examples) - examples_per_step + 1, examples_per_step):
            group = list(range(s, s + examples_per_step))
            groups.append([[group[i] for i in row] for row in
                           pack_in_order([len(examples[i]) for i in group], micro_batch_tokens)])
    else:
        cur: list[list[int]] = []
        toks = 0
        for row in pack_in_order([len(e) for e in examples], micro_batch_tokens):
            cur.append(row)
            toks += sum(len(examples[i]) for i in row)
            # rows are ~full, so closing within half a row lands nearest to tokens_per_step
            if toks >= tokens_per_step - micro_batch_tokens // 2:
                groups.append(cur)
                cur, toks = [], 0
        if cur:
            groups.append(cur)
    steps = []
    for g in groups:
        rows = _split_for_ranks(g, world_size)
        if rows is not None:  # a tail too small to give every rank a row is dropped
            steps.append(rows)
    return steps


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> list[int]:
    order = list(range(n))
    if shuffle:
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def total_tokens(examples: Sequence[Example]) -> int:
    return sum(len(e) for e in examples)


