"""`teamlore index [sync|rebuild|status]` and `teamlore eval retrieval BEIR_DIR`."""
from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from app.db import migrate
from app.db.jsonvalues import jsonable
from app.settings import get_settings


def _progress():
    last = {"stage": None}

    def report(stage: str, frac: float) -> None:
        if stage != last["stage"]:
            typer.echo(f"  {stage}…")
            last["stage"] = stage
    return report


def register(cli: typer.Typer) -> None:
    index = typer.Typer(help="Chunk, embed and index the corpus (FAISS + BM25).", invoke_without_command=True)

    @index.callback()
    def _index(ctx: typer.Context) -> None:
        """Bring the index up to date with the corpus (same as `teamlore index sync`)."""
        if ctx.invoked_subcommand is None:
            sync()

    @index.command()
    def sync() -> None:
        """Incremental: embed new or changed chunks, drop deleted ones, publish atomically."""
        from app.services.indexing import sync_index
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        typer.echo(str(sync_index(settings, progress=_progress())))

    @index.command()
    def rebuild() -> None:
        """Re-embed everything (after changing the embedding model, or to compact the index)."""
        from app.services.indexing import rebuild_index
        settings = get_settings()
        settings.ensure_dirs()
        migrate(settings.db_url)
        typer.echo(str(rebuild_index(settings, progress=_progress())))

    @index.command()
    def status() -> None:
        """Published version, chunk count, embedding model, index kind, last full rebuild."""
        from app.services.indexing import index_status
        typer.echo(json.dumps(jsonable(index_status(get_settings())), indent=1))

    @index.command()
    def adapt(beir_dir: Path = typer.Option(None, "--beir", help="use this BEIR folder's train split"),
              epochs: int = typer.Option(3, min=1), device: str = typer.Option("cpu", help="cpu | cuda")) -> None:
        """Finetune the embedding model on in-domain pairs; keep it only if held-out retrieval improves."""
        from app.services.embedding_adaptation import adapt_embeddings
        settings = get_settings()
        settings.ensure_dirs()
        res = adapt_embeddings(settings, beir_dir=str(beir_dir) if beir_dir else None, epochs=epochs,
                               device=device, progress=lambda d: typer.echo(f"  step {d['step']}/{d['max_steps']}"
                                                                          f" loss {d['loss']}"))
        typer.echo(json.dumps(res, indent=1))
        if res["kept"]:
            typer.echo(f"set TEAMLORE_EMBEDDING_MODEL={res['model_path']} and run `teamlore index sync` "
                       "(the index is rebuilt in the new model's vector space)")

    cli.add_typer(index, name="index")

    ev = typer.Typer(help="Measure components against public benchmarks.", no_args_is_help=True)

    @ev.command("retrieval")
    def eval_retrieval(
        beir_dir: Path = typer.Argument(..., help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv"),
        split: str = typer.Option("test", help="qrels split to score"),
        model: str = typer.Option(None, help="embedding model (default: the configured one)"),
        backend: str = typer.Option(None, help="torch | onnx | onnx-int8 (default: the configured one)"),
        dense_weight: float = typer.Option(1.0, help="RRF weight of the dense list (BM25 has weight 1)"),
    ) -> None:
        """nDCG@10, Recall@10/100, MRR@10 and query latency of BM25, dense and their fusion on a BEIR folder."""
        from retrieval.beir import BeirFormatError, load_beir
        from retrieval.chunking import ChunkingConfig
        from retrieval.embedder import get_embedder
        from retrieval.evaluation import build_beir_index, evaluate, write_result
        from retrieval.hybrid import FusionConfig

        from app.services.embeddings import embedding_backend, embedding_model_path
        settings = get_settings()
        settings.ensure_dirs()
        try:
            data = load_beir(beir_dir, split)
        except BeirFormatError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        name = model or embedding_model_path(settings)
        emb = get_embedder(name, backend=backend or embedding_backend(settings), cache_dir=settings.models_dir / "onnx")
        typer.echo(f"{len(data.corpus)} documents, {len(data.queries)} {split} queries; model {name} "
                   f"({emb.backend})")
        t = time.perf_counter()
        idx = build_beir_index(data, emb, config=ChunkingConfig(min(settings.chunk_tokens, emb.max_seq_length - 2),
                                                                settings.chunk_overlap),
                               fusion=FusionConfig(dense_weight=dense_weight),
                               cache_dir=settings.runs_dir / "retrieval_eval" / "embeddings")
        res = evaluate(idx, data)
        res.update({"beir_dir": str(beir_dir), "split": split, "model": name, "model_version": emb.version,
                    "backend": emb.backend, "dense_weight": dense_weight, "embed_s": round(idx.embed_s, 1),
                    "total_s": round(time.perf_counter() - t, 1)})
        out = write_result(settings.runs_dir / "retrieval_eval",
                           f"{Path(beir_dir).name}-{split}-{emb.version}-{int(time.time())}", res)
        for m in ("bm25", "dense", "rrf"):
            r = res[m]
            typer.echo(f"{m:6s} nDCG@10 {r['ndcg@10']:.4f}  R@10 {r['recall@10']:.4f}  R@100 {r['recall@100']:.4f}"
                       f"  MRR@10 {r['mrr@10']:.4f}  p50 {r['latency'].get('p50_ms')} ms"
                       f"  p95 {r['latency'].get('p95_ms')} ms")
        typer.echo(f"results: {out}")

    from app.cli.answers import register as register_answers
    register_answers(ev)
    cli.add_typer(ev, name="eval")
