"""The whole learning loop on one GPU, through the app's own code: SFT on the OLake dataset -> gate -> (forced) live
-> the live model answers questions, users rate them 👎 and an admin corrects them -> preference pairs -> DPO that
continues from the live SFT adapter (reference = that adapter, frozen) -> gate against the live version ->
promotion if it passes. Prints tokens/s and peak GPU memory of DPO beside SFT and the gate's verdicts.

Two steps, because the GPU machine has only the repository (no ../shared, no embedding-model weights, no faiss):

  # here (CPU, the project venv): OLake export -> `teamlore dataset build`'s build_dataset, a BPE tokenizer trained
  # on the dataset, the database (chunks, for citations and feedback lineage), and a record of what retrieval and
  # the extractive answerer's sentence encoder returned for every question the GPU run will ask
  python benchmarks/learning_loop_gpu.py --prepare .gpuwork/loop

  # on the GPU (wheels from .whl/ on PYTHONPATH): random-init Llama-3.2-1B-shaped model, the loop, a report
  # The wheels carried to the H100 on 2026-12-07 (versions from requirements/main.txt; `--gpu-site` checks a set):
  #   alembic annotated-types certifi charset-normalizer datasketch detect-secrets filetype idna liger-kernel mako
  #   opentelemetry-api peft phonenumbers pydantic pydantic-core pydantic-settings pygments pysbd python-dotenv
  #   python-stdnum redis requests slack-sdk sqlalchemy torchao typing-extensions typing-inspection urllib3 xxhash
  python3 benchmarks/learning_loop_gpu.py --run .gpuwork/loop --out $OUT

What is real and what is not (say so wherever the figures are quoted):
- weights: no pretrained model exists offline, so the base is a Llama-3.2-1B-shaped model (hidden 2048, 16 layers,
  32 heads, 8 KV heads, MLP 8192) with RANDOM weights and the vocabulary of a BPE trained on the OLake dataset (not
  Llama's 128k). The gate figures therefore measure a model that knows no English: the verdicts are the gate
  working, not a quality claim. Throughput and memory are the recipes' own.
- users: the 👎 ratings and corrections are made by this script (the correction is the answer that resolved the
  question in Slack, for the questions of the dataset's train and validation splits — the gate asks the test
  split's); the rows are written the way the API's feedback and correction routes write them. The OLake export
  makes a small dataset (27 examples on main at 6c354e7), so DPO sees few pairs, many times over.
- the record belongs to the code that made it: after a change to retrieval, the answer engine, the extractive
  answerer or the dataset builder, run --prepare again (about a minute here); a run on a stale record stops at
  the first question or sentence it lacks.
- the SFT version does not pass the gate (random weights vs extractive quotes) and is force-promoted by an
  "admin", recorded in the audit log, so that feedback can be given on its answers and DPO can continue from it.
- retrieval and the extractive answerer's sentence embeddings were computed in --prepare with the real models
  (faiss + BM25 index, MiniLM) and are replayed from that record on the GPU (the GPU machine has neither faiss nor
  the embedding model's weights); a question that was not recorded stops the run (no silent fallback).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPES = {"1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, max_position_embeddings=4096),
          "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=1,
                       num_key_value_heads=1, max_position_embeddings=4096)}
GATE_LIMIT, UNANSWERABLE = 20, 6          # what app/workflows/training.py:evaluate_answers asks
FEEDBACK_MAX_NEW_TOKENS = 48


def log(obj) -> None:
    print(json.dumps(obj, default=str), flush=True)


def settings_for(var: Path, **extra):
    from app.settings import load_settings
    s = load_settings(data_dir=var, database_url=f"sqlite:///{var / 'teamlore.db'}")
    s = s.model_copy(update={"context_window": 3072, **extra})
    s.ensure_dirs()
    return s


# --- the GPU machine's packages, simulated here (--gpu-env-check) ---------------------------------------------

REPO_PACKAGES = {"app", "model", "finetune", "retrieval", "ingest", "benchmarks", "tests", "examples", "ui"}
# what the GPU machine has: torch (and its requirements), transformers, accelerate, safetensors, tokenizers, numpy, huggingface_hub, pyyaml,
# and sentence-transformers' own dependencies (scipy, scikit-learn, Pillow) — not sentence_transformers itself, whose
# import here pulls in more (datasets, pandas) than its wheel requires
GPU_STACK = ("torch", "transformers", "accelerate", "safetensors", "tokenizers", "numpy", "huggingface_hub", "yaml",
             "scipy", "sklearn", "PIL", "sympy", "networkx", "jinja2", "fsspec", "filelock")  # + torch's own deps


def wheel_modules(folder: Path) -> set[str]:
    """Top-level importable names inside the wheels of `folder`."""
    import zipfile
    names = set()
    for whl in folder.glob("*.whl"):
        for entry in zipfile.ZipFile(whl).namelist():
            top = entry.split("/", 1)[0]
            if top.endswith((".dist-info", ".data")):
                continue
            names.add(top[:-3] if top.endswith(".py") else top.split(".", 1)[0])
    return names


def make_gpu_site(wheels: Path, site: Path) -> list[str]:
    """A site-packages folder of links to this environment's copies of what the GPU machine has (GPU_STACK and what
    importing it loads) plus what the carried wheels hold. Run the script with `python -S` and PYTHONPATH=site:repo
    to find, on CPU, any import the GPU run would miss."""
    import importlib
    import importlib.metadata as md
    import sysconfig
    for name in GPU_STACK:
        importlib.import_module(name)
    try:  # transformers >= 5.2x here loads hub kernels by default (the GPU machine's 5.17 does not)
        importlib.import_module("kernels")
    except ImportError:
        pass
    allowed = ({m.split(".", 1)[0] for m in sys.modules} | wheel_modules(wheels)) - set(sys.stdlib_module_names)
    purelib = Path(sysconfig.get_paths()["purelib"])
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    linked = []
    for entry in purelib.iterdir():
        top = entry.name.split(".", 1)[0] if entry.is_file() else entry.name
        if entry.name.startswith("__editable__") or top in REPO_PACKAGES:
            continue
        if top in allowed or (entry.suffix == ".so" and entry.name.split(".", 1)[0] in allowed):
            (site / entry.name).symlink_to(entry)
            linked.append(entry.name)
    dists = md.packages_distributions()
    keep = {d.lower().replace("-", "_") for top in allowed for d in dists.get(top, [])}
    for entry in purelib.glob("*.dist-info"):
        if entry.name.split("-", 1)[0].lower() in keep:
            (site / entry.name).symlink_to(entry)
    return sorted(linked)


# --- the record: retrieval, sentence embeddings, token counts, IDF ---------------------------------------------

def _key(query: str, k: int, filters) -> str:
    return json.dumps([query, k, filters], sort_keys=True, default=str)


def _hit_to_dict(h) -> dict:
    return {"chunk_id": h.chunk_id, "score": h.score, "text": h.text, "title": h.title, "meta": h.meta,
            "scores": h.scores}


class Recorder:
    """Wraps the real searcher, encoder, token counter and IDF, keeping what they returned."""

    def __init__(self, searcher, encoder, counter, idf):
        self._s, self._e, self._c, self._i = searcher, encoder, counter, idf
        self.hits: dict[str, list[dict]] = {}
        self.vectors: dict[str, list[float]] = {}
        self.counts: dict[str, int] = {}
        self.idf: dict[str, float] = {}

    def search(self, query, k=5, access=None, filters=None):
        from retrieval.types import PUBLIC
        if access is not PUBLIC and access != PUBLIC:
            raise RuntimeError("the record is made with public access only")
        hits = self._s.search(query, k=k, access=access, filters=filters)
        self.hits[_key(query, k, filters)] = [_hit_to_dict(h) for h in hits]
        return hits

    def encode(self, texts):
        vecs = self._e(texts)
        for t, v in zip(texts, vecs):
            self.vectors[t] = [float(x) for x in v]
        return vecs

    def count(self, text):
        n = self._c(text)
        self.counts[text] = n
        return n

    def idf_of(self, word):
        v = self._i(word)
        self.idf[word] = float(v)
        return v

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"hits": self.hits, "vectors": self.vectors, "counts": self.counts,
                                    "idf": self.idf}))


class Replay:
    """Serves the record back; anything not recorded is an error that names it."""

    def __init__(self, path: Path):
        import numpy as np
        d = json.loads(path.read_text())
        self.hits, self.counts, self.idf_map = d["hits"], d["counts"], d["idf"]
        self.vectors = {t: np.asarray(v, dtype=np.float32) for t, v in d["vectors"].items()}
        self.np = np

    def search(self, query, k=5, access=None, filters=None):
        from retrieval.types import PUBLIC, SearchHit
        if access is not PUBLIC and access != PUBLIC:
            raise RuntimeError("the record holds public-access searches only")
        key = _key(query, k, filters)
        if key not in self.hits:
            raise KeyError(f"retrieval for {query!r} (k={k}, filters={filters}) was not recorded by --prepare")
        return [SearchHit(**h) for h in self.hits[key]]

    def encode(self, texts):
        missing = [t for t in texts if t not in self.vectors]
        if missing:
            raise KeyError(f"sentence embedding of {missing[0][:80]!r} was not recorded by --prepare")
        return self.np.stack([self.vectors[t] for t in texts]) if texts else self.np.zeros((0, 384), "float32")

    def count(self, text):
        if text not in self.counts:
            raise KeyError(f"token count of {text[:80]!r} was not recorded by --prepare")
        return self.counts[text]

    def idf_of(self, word):
        if word not in self.idf_map:
            raise KeyError(f"IDF of {word!r} was not recorded by --prepare")
        return self.idf_map[word]


def install(backend) -> None:
    """Point app/wiring.py's searcher, encoder, token counter and corpus IDF at `backend` (Recorder or Replay)."""
    from app import wiring
    wiring.searcher_for = lambda settings: backend
    wiring.get_encoder = lambda settings: backend.encode
    wiring.get_token_counter = lambda settings: backend.count
    wiring.corpus_idf = lambda settings: backend.idf_of


# --- prepare (CPU, here) ---------------------------------------------------------------------------------------

def gate_questions(dataset_dir: Path):
    from app.answering.evaluation import load_heldout, load_unanswerable
    return load_heldout(dataset_dir, GATE_LIMIT), load_unanswerable(dataset_dir, UNANSWERABLE)


def feedback_questions(dataset_dir: Path, n: int) -> list[dict]:
    """The questions of the train and validation splits (never the test split, whose questions the gate asks) and
    the answer that resolved each in Slack: what the script's 'admin' writes as the correction."""
    out, seen = [], set()
    lines = [line for split in ("validation", "train")
             for line in (dataset_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    for line in lines:
        ex = json.loads(line)
        msgs = ex.get("messages") or []
        users = [m["content"] for m in msgs if m.get("role") == "user"]
        answers = [m["content"] for m in msgs if m.get("role") == "assistant"]
        if not users or not answers or users[0] in seen or len(answers[-1]) < 20:
            continue
        seen.add(users[0])
        out.append({"question": users[0], "correction": answers[-1], "id": ex.get("id")})
        if len(out) >= n:
            break
    return out


def prepare(root: Path, export: Path, n_feedback: int, vocab: int) -> None:
    from app.answering.engine import AnswerEngine  # noqa: F401  (import order: app first)
    from app.answering.evaluation import score
    from app.db import migrate
    from app.services.datasets import build_dataset
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_slack_export
    from app import wiring
    from finetune.tokenizer import train_bpe
    from model.base import GenerationParams
    from retrieval.types import PUBLIC
    if not export.is_dir():
        sys.exit(f"no Slack export at {export}")
    if root.exists():
        shutil.rmtree(root)
    var = root / "var"
    s = settings_for(var)
    t0 = time.perf_counter()
    migrate(s.db_url)
    ingest_slack_export(s, export, source_name="olake-community")
    sync_index(s)
    ds = build_dataset(s, name="olake")           # what `teamlore dataset build` runs
    version, ddir = ds["version"], Path(ds["path"])
    log({"step": "dataset", "version": version, "stats": {k: ds["stats"].get(k) for k in ("splits", "examples")
                                                          if isinstance(ds.get("stats"), dict)},
         "s": round(time.perf_counter() - t0, 1)})

    # the tokenizer learns from the workspace's messages and the training split (not the held-out questions)
    texts = []
    for f in sorted(export.glob("*/*.json")):
        msgs = json.loads(f.read_text(encoding="utf-8"))
        texts += [m["text"] for m in msgs if isinstance(m, dict) and m.get("text")]
    for line in (ddir / "train.jsonl").read_text(encoding="utf-8").splitlines():
        texts += [m["content"] for m in json.loads(line).get("messages", [])]
    tok = train_bpe(texts, vocab_size=vocab)
    tok.save_pretrained(root / "tokenizer")

    # Record what the GPU run will ask of retrieval and of the extractive answerer: the gate's questions through
    # the extractive engine (exactly as the gate scores it) and the feedback questions through the engine.
    rec = Recorder(wiring.searcher_for(s), wiring.get_encoder(s), wiring.get_token_counter(s), wiring.corpus_idf(s))
    install(rec)
    heldout, unanswerable = gate_questions(ddir)
    fb = feedback_questions(ddir, n_feedback)
    extractive = wiring.fixed_engine(s, wiring.extractive_choice(s), rec)
    ref = score(extractive, heldout, 64, unanswerable)
    for q in fb:
        rec.search(q["question"], k=s.top_k, access=PUBLIC, filters=None)
        extractive.answer(q["question"], access=PUBLIC, store=False, params=GenerationParams(max_new_tokens=64))
    rec.save(root / "record.json")
    (root / "feedback_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in fb))

    shutil.rmtree(s.index_dir, ignore_errors=True)   # replaced by the record; keeps the folder small
    for p in var.iterdir():
        if p.name not in ("teamlore.db", "datasets"):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
    manifest = {"dataset_version": version, "feedback_questions": len(fb), "gate_questions": len(heldout),
                "unanswerable": len(unanswerable), "extractive_on_gate_questions": ref,
                "tokenizer_vocab": len(tok), "export": str(export)}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    log({"step": "prepared", **{k: v for k, v in manifest.items() if k != "extractive_on_gate_questions"},
         "extractive_answer_f1": ref["answer_f1"], "mib": round(size / 2**20, 1),
         "s": round(time.perf_counter() - t0, 1)})


# --- run (GPU) -------------------------------------------------------------------------------------------------

def build_base(root: Path, work: Path, shape: str, device) -> tuple[Path, dict]:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    tok = AutoTokenizer.from_pretrained(root / "tokenizer")
    cfg = LlamaConfig(vocab_size=len(tok), tie_word_embeddings=True, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **SHAPES[shape])
    cfg.architectures = ["LlamaForCausalLM"]
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16 if device.type == "cuda" else torch.float32)
    out = work / f"llama-{shape}-random"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    info = {"path": out.name, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
            "vocab": len(tok), **SHAPES[shape]}
    del model
    return out, info


class Phase:
    """Per-step metrics of one training run, and its peak GPU memory."""

    def __init__(self, name: str, warmup: int):
        self.name, self.warmup, self.steps = name, warmup, []

    def __call__(self, step: int, values: dict) -> None:
        self.steps.append({"step": step, **values})

    def summary(self, peak_gib) -> dict:
        """peak_gib: the whole phase's (training, then the gate's models); train_peak_mem_gib: training's own."""
        timed = self.steps[self.warmup:] or self.steps
        mems = [m["gpu_mem_gib"] for m in self.steps if m.get("gpu_mem_gib") is not None]
        toks = sum(m.get("tokens", 0) for m in timed)
        secs = sum(m.get("step_s", 0) for m in timed)
        return {"recipe": self.name, "steps": len(self.steps), "steps_timed": len(timed),
                "tokens_per_s": round(toks / secs) if secs else None,
                "tokens_per_step": round(toks / max(len(timed), 1)),
                "train_peak_mem_gib": max(mems) if mems else None, "phase_peak_mem_gib": peak_gib,
                "first_loss": self.steps[0].get("loss") if self.steps else None,
                "last_loss": self.steps[-1].get("loss") if self.steps else None,
                "last_reward_accuracy": self.steps[-1].get("reward_accuracy") if self.steps else None}


def run(root: Path, out: Path, shape: str, device_name: str, sft_steps: int, dpo_steps: int, warmup: int) -> dict:
    import torch
    from sqlalchemy import select

    from app.answering.engine import AnswerEngine  # noqa: F401
    from app.db import migrate, session_scope
    from app.db.models import AuditEvent, Feedback, ModelVersion, User
    from app.services import registry
    from app.wiring import build_engine
    from app.workflows.training import run_training
    from model.base import GenerationParams
    from retrieval.types import PUBLIC
    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here")
    manifest = json.loads((root / "manifest.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="tl_loop_"))
    shutil.copytree(root / "var", work / "var")
    s = settings_for(work / "var", max_new_tokens=FEEDBACK_MAX_NEW_TOKENS)
    migrate(s.db_url)
    install(Replay(root / "record.json"))
    version = manifest["dataset_version"]
    report: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                    "torch": torch.__version__, "shape": shape, "dataset_version": version,
                    "weights": "random init (no pretrained weights offline)"}
    import peft
    import transformers
    report["transformers"], report["peft"] = transformers.__version__, peft.__version__
    log({k: report[k] for k in ("device", "torch", "transformers", "peft", "shape", "dataset_version")})
    t0 = time.perf_counter()
    base, report["base"] = build_base(root, work, shape, device)
    log({"phase": "base", **report["base"]})
    gpu = device.type == "cuda"

    def peak() -> float | None:
        return round(torch.cuda.max_memory_allocated() / 2**30, 2) if gpu else None

    def reset() -> None:
        if gpu:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()

    tiny = shape == "tiny"
    sft_cfg = {"tokens_per_step": 2048 if tiny else 32768, "micro_batch_tokens": 2048 if tiny else 8192,
               "max_seq_len": 2048, "lr": 2e-4, "checkpoint_every": 0}
    dpo_cfg = {"pairs_per_step": 4 if tiny else 16, "micro_batch_tokens": 4096 if tiny else 8192,
               "max_seq_len": 3072, "min_train_examples": 4, "checkpoint_every": 0,
               **({"lr": 1e-3} if tiny else {})}

    # 1. SFT on the OLake dataset version, through the gate against the live answerer (extractive)
    reset()
    sft_phase = Phase("sft", warmup)
    t = time.perf_counter()
    sft = run_training(s, {"dataset": version, "base": str(base), "steps": sft_steps, "name": "olake-sft",
                           "config": sft_cfg}, on_metrics=sft_phase)
    report["sft"] = {**sft_phase.summary(peak()), "wall_s": round(time.perf_counter() - t, 1),
                     "promoted_by_gate": sft["promoted"], "gate": sft["metrics"]["gate"],
                     "heldout_loss": sft["metrics"].get("heldout")}
    log({"phase": "sft", **{k: v for k, v in report["sft"].items() if k not in ("gate", "heldout_loss")},
         "gate_passed": sft["metrics"]["gate"]["passed"], "reasons": sft["metrics"]["gate"]["reasons"]})

    # 2. an admin makes it live anyway (random weights cannot beat extractive quotes): a forced, audited promotion
    sft_id = sft["model_version"]["id"]
    with session_scope(s.db_url) as ses:
        if not sft["promoted"]:
            registry.promote(ses, sft_id, None, force=True, reason="learning-loop benchmark: random-init weights; "
                             "live so that its answers get feedback")
        admin = User(name="loop-admin", role="admin")
        rater = User(name="loop-rater", role="member")
        ses.add_all([admin, rater])
        ses.flush()
        admin_id, rater_id = admin.id, rater.id

    # 3. the live version answers; each answer is rated 👎 with a comment and corrected by the admin
    engine = build_engine(s)
    fb = [json.loads(line) for line in (root / "feedback_questions.jsonl").read_text().splitlines() if line.strip()]
    t = time.perf_counter()
    modes = {}
    for q in fb:
        ans = engine.answer(q["question"], access=PUBLIC, user_id=rater_id,
                            params=GenerationParams(max_new_tokens=FEEDBACK_MAX_NEW_TOKENS))
        modes[ans.model_version or ans.mode] = modes.get(ans.model_version or ans.mode, 0) + 1
        with session_scope(s.db_url) as ses:
            ses.add(Feedback(message_id=ans.message_id, user_id=rater_id, rating=-1, origin="web",
                             comment="does not answer it"))
            ses.add(Feedback(message_id=ans.message_id, user_id=admin_id, rating=-1, origin="web",
                             correction=q["correction"]))
    report["feedback"] = {"answers": len(fb), "answered_by": modes, "wall_s": round(time.perf_counter() - t, 1)}
    log({"phase": "feedback", **report["feedback"]})

    # 4. DPO on the pairs built from that feedback, continuing from the live SFT adapter, through the gate
    del engine
    reset()
    dpo_phase = Phase("dpo", warmup)
    t = time.perf_counter()
    dpo = run_training(s, {"dataset": version, "steps": dpo_steps, "name": "olake-dpo", "recipe": "dpo",
                           "feedback_since": "olake-sft", "config": dpo_cfg}, on_metrics=dpo_phase)
    m = dpo["metrics"]
    report["dpo"] = {**dpo_phase.summary(peak()), "wall_s": round(time.perf_counter() - t, 1),
                     "lineage": m.get("lineage"), "data": m.get("data"), "preference_heldout": m.get("preference"),
                     "promoted_by_gate": dpo["promoted"], "gate": m["gate"], "heldout_loss": m.get("heldout")}
    log({"phase": "dpo", **{k: v for k, v in report["dpo"].items() if k not in ("gate", "heldout_loss", "data")},
         "gate_passed": m["gate"]["passed"], "reasons": m["gate"]["reasons"]})

    with session_scope(s.db_url) as ses:
        live = registry.live_version(ses)
        report["live_after"] = live.name if live else None
        report["versions"] = [{"name": v.name, "status": v.status,
                               "parent": ((v.metrics or {}).get("lineage") or {}).get("parent")}
                              for v in ses.scalars(select(ModelVersion).order_by(ModelVersion.id))]
        report["audit"] = [{"action": e.action, "target": e.target}
                           for e in ses.scalars(select(AuditEvent).where(AuditEvent.action.like("model.%")))]
    report["total_s"] = round(time.perf_counter() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning_loop_gpu.json").write_text(json.dumps(report, indent=1, default=str))
    print("\nrecipe  tokens/s   tokens/step  train_peak_GiB  steps  wall_s (incl. gate)")
    for r in (report["sft"], report["dpo"]):
        print(f"{r['recipe']:6} {r['tokens_per_s']!s:>9} {r['tokens_per_step']:>12} {r['train_peak_mem_gib']!s:>15} "
              f"{r['steps']:>6} {r['wall_s']:>7}")
    for name in ("sft", "dpo"):
        g = report[name]["gate"]
        print(f"gate {name}: {'passed' if g['passed'] else 'not passed'} vs {g['compared_with']}; "
              + ("; ".join(g["reasons"]) or "no worse on every figure"))
    pe = report["dpo"]["preference_heldout"] or {}
    print(f"DPO held-out pairs {pe.get('pairs')}: policy margin {pe.get('policy_margin')} vs reference "
          f"({pe.get('reference')}) {pe.get('reference_margin')}; live now: {report['live_after']}; "
          f"total {report['total_s']} s")
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required="--gpu-site" not in sys.argv)
    mode.add_argument("--prepare", metavar="DIR", help="CPU, here: write everything the GPU run needs into DIR")
    mode.add_argument("--run", metavar="DIR", help="GPU: run the loop from a prepared DIR")
    ap.add_argument("--export", default=str(REPO.parent / "shared" / "data" / "slack" / "olake-community-export"))
    ap.add_argument("--feedback", type=int, default=48, help="questions answered, rated and corrected")
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument("--tiny", action="store_true", help="(--run) a 2-layer model and a few steps (the CPU check)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sft-steps", type=int, default=None)
    ap.add_argument("--dpo-steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None, help="steps left out of tokens/s (compilation)")
    ap.add_argument("--out", default=os.environ.get("OUT") or tempfile.mkdtemp())
    ap.add_argument("--gpu-site", nargs=2, metavar=("WHEELS", "SITE"), default=None,
                    help="(CPU check) write SITE: links to the packages the GPU machine has plus those in WHEELS; "
                         "then run `PYTHONPATH=SITE:. python -S benchmarks/learning_loop_gpu.py --run ...`")
    a, _ = ap.parse_known_args() if "--gpu-site" in sys.argv else (None, None)
    if a is not None and a.gpu_site:
        linked = make_gpu_site(Path(a.gpu_site[0]), Path(a.gpu_site[1]))
        log({"gpu_site": a.gpu_site[1], "packages": len(linked)})
        return
    a = ap.parse_args()
    if a.prepare:
        prepare(Path(a.prepare), Path(a.export), a.feedback, a.vocab)
    else:
        shape = "tiny" if a.tiny else "1b"
        run(Path(a.run), Path(a.out), shape, a.device, a.sft_steps or (4 if a.tiny else 60),
            a.dpo_steps or (6 if a.tiny else 30), a.warmup if a.warmup is not None else (1 if a.tiny else 5))


if __name__ == "__main__":
    main()
