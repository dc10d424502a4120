"""The one settings class: TEAMLORE_* environment variables over an optional teamlore.yaml.

Every other package receives plain values (paths, model names) from here; only `app` reads settings.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (BaseSettings, PydanticBaseSettingsSource,
                               SettingsConfigDict)


class SettingsError(RuntimeError):
    """A setting is malformed; the message names it."""


class YamlSource(PydanticBaseSettingsSource):
    """Reads teamlore.yaml (or TEAMLORE_CONFIG) if present; env vars win over it."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        path = Path(os.environ.get("TEAMLORE_CONFIG", "teamlore.yaml"))
        self.data: dict[str, Any] = {}
        if path.is_file():
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise SettingsError(f"{path} is not valid YAML: {exc}") from exc
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise SettingsError(f"{path} must hold a mapping of setting: value, got {type(loaded).__name__}")
            unknown = sorted(set(loaded) - set(settings_cls.model_fields))
            if unknown:
                raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}")
            self.data = loaded

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEAMLORE_", extra="forbid", validate_default=True)

    # Storage
    data_dir: Path = Path("var")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under data_dir")
    redis_url: str | None = Field(default=None, description="Redis for rate limits and jobs in production")
    queue_name: str = Field(default="teamlore", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                            description="the job queue's name on Redis: two deployments sharing one Redis "
                                        "need different names")

    # Retrieval
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"  # int8 ONNX: >2x faster on CPU
    embedding_cache_dir: Path | None = Field(default=None, description="where ONNX exports of the embedding model "
                                             "are cached (keyed by model fingerprint); default <data_dir>/models/onnx")
    reranker_model: str | None = None
    chunk_tokens: int = Field(default=200, ge=32, le=512)
    chunk_overlap: int = Field(default=32, ge=0, le=256)
    top_k: int = Field(default=8, ge=1, le=50, description="passages retrieved per question (chosen on the "
                       "tune split of benchmarks/data/handbook_questions.jsonl)")
    min_relevance: float = Field(default=0.25, ge=0.0, le=1.0)
    ivf_threshold: int = Field(default=250_000, ge=1, description="chunk count from which the vector index is IVF "
                               "(approximate) instead of a flat exact scan")
    # Fusion and answer selection, chosen on the tune split of benchmarks/data/handbook_questions.jsonl
    # (benchmarks/answers_tune.py; BENCHMARKS.md "Answers").
    retrieval_dense_weight: float = Field(default=2.0, ge=0.0, description="RRF weight of the dense list")
    retrieval_bm25_weight: float = Field(default=1.0, ge=0.0, description="RRF weight of the BM25 list")
    retrieval_rrf_k: int = Field(default=60, ge=1)
    answer_lexical_weight: float = Field(default=0.15, ge=0.0, description="extractive: weight of the question's "
                                         "words found in a sentence (the embedder's cosine has weight 1)")
    answer_heading_weight: float = Field(default=0.15, ge=0.0)
    answer_rank_weight: float = Field(default=0.0, ge=0.0)
    answer_margin: float = Field(default=0.15, ge=0.0, description="extractive: quote sentences scoring within "
                                 "this of the best one")
    answer_max_sentences: int = Field(default=4, ge=1, le=10)
    # Abstention: "I don't know" when the evidence score (best sentence − missing_weight × share of the question's
    # IDF-weighted terms the evidence lacks, synonym-aware − type_weight × answer-type mismatch) is below
    # answer_abstain_below. Default: the best sentence's score alone (0.562, chosen on the tune split), which kept
    # false abstention within 5 % on both held-out sets. The three-signal policy fitted on tune by
    # benchmarks/abstain_tune.py — missing_weight 0.641, synonym_cos 0.6, type_weight 0.397, coverage_of "picked",
    # threshold 0.387 — catches more unanswerable questions but abstained on 11-14 % of answerable held-out ones
    # (BENCHMARKS.md "Abstention"); set those five to use it. A second round (benchmarks/abstain_cv.py, CV on
    # tune+report+fresh) chose lexical_idf, synonym_cos 0.6, coverage_of "passage", missing_weight 0.286,
    # specific_weight 0.141 (2 terms), type_weight 0, threshold 0.429: on the new held-out set holdout2 it caught
    # 0.769 of unanswerable vs 0.538 but abstained on 0.120 of answerable vs 0.040, so it is opt-in too.
    # Rounds 3 and 4 (benchmarks/abstain_augment.py: CV on the seen sets plus generated look-alikes and rewordings)
    # added the focus gap (answer_focus_*) and answer_normalise. Round 3 (focus 0.424, 1 term, "top"; missing 0.381,
    # synonym_cos 0.6, "passage"; threshold 0.2143) on holdout3: 0.688 abstention vs 0.438, but 0.098 false (as the
    # default); round 4 (focus 0.416, 2 terms, "picked"; threshold 0.3334) on holdout4: 0.400 vs 0.500 at 0 false.
    # Neither met the rule to become the default (BENCHMARKS.md, "Third tuning round").
    # The same gate runs before a generative model is asked.
    answer_abstain_below: float = Field(default=0.562, description="say \"I don't know\" when the evidence score "
                                        "is below this")
    answer_missing_weight: float = Field(default=0.0, ge=0.0, description="extractive: penalty per share of the "
                                         "question's IDF-weighted terms absent from the evidence (0: off)")
    answer_synonym_cos: float = Field(default=0.0, ge=0.0, le=1.0, description="a question term counts as present "
                                      "when an evidence word is this close to it in the embedder's space (0: only "
                                      "literal matches, typos and abbreviations)")
    answer_type_weight: float = Field(default=0.0, ge=0.0, description="penalty when the question asks for an "
                                      "amount, duration or date and the quoted evidence holds none (0: off)")
    answer_rare_idf: float = Field(default=0.0, ge=0.0, description="extractive: question terms with a lower IDF "
                                   "over the index are generic and not checked")
    answer_coverage_of: Literal["picked", "passage", "all"] = Field(default="passage", description="extractive: "
                                   "the evidence checked for the question's terms (picked: the quoted units with "
                                   "their headings and titles; passage: their passages)")
    answer_lexical_idf: bool = Field(default=False, description="extractive: weight the question's words by their "
                                     "IDF over the index when matching them in a sentence (rare terms count more)")
    answer_specific_weight: float = Field(default=0.0, ge=0.0, description="penalty per share of the question's "
                                          "most specific (highest-IDF) terms absent from the quoted units (0: off)")
    answer_specific_terms: int = Field(default=2, ge=1, le=5, description="how many of the question's highest-IDF "
                                       "terms count as its most specific ones")
    answer_focus_weight: float = Field(default=0.0, ge=0.0, description="extractive: penalty × (1 − how close the "
                                       "evidence comes to the question's least-covered most specific term: 1 when "
                                       "present up to typo/inflection/abbreviation, else the best word cosine)")
    answer_focus_terms: int = Field(default=1, ge=1, le=5, description="how many of the question's highest-IDF "
                                    "terms the focus check looks for")
    answer_focus_of: Literal["top", "picked", "passage"] = Field(default="top", description="extractive: where the "
                                    "focus terms are looked for (top: the best unit with its heading and page "
                                    "title; picked: the quoted units, likewise; passage: their passages)")
    answer_normalise: bool = Field(default=False, description="extractive: score the question with chat "
                                   "abbreviations spelled out and typos corrected to the retrieved passages' words")
    query_chat_terms: bool = Field(default=True, description="spell out chat shorthand (tmrw, appt, w/) and follow "
                                   "place/organisation abbreviations with their names (nyc -> nyc new york city) in "
                                   "the search query and in the question the extractive answerer scores "
                                   "(retrieval/chat_terms.py; the default since holdout5, BENCHMARKS.md)")
    answer_gate_generative: bool = Field(default=True, description="a generative model is only asked when the "
                                         "evidence score passes answer_abstain_below; else \"I don't know\"")

    # Generation
    # auto: the registry's live model version answers (transformers base + adapter on this machine, or the
    # OpenAI-compatible server with the adapter hot-loaded when openai_base_url is set, e.g. vLLM); with no live
    # version, the configured model (model_path / openai_base_url) if any, else extractive answers.
    generator: Literal["auto", "extractive", "transformers", "openai"] = "auto"
    model_path: str | None = Field(default=None, description="HF directory or hub id for the transformers generator")
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_model: str | None = None
    max_new_tokens: int = Field(default=256, ge=1, le=8192)
    context_window: int = Field(default=2048, ge=128)
    system_prompt: str = ("You are Teamlore, the team's assistant. Answer from the provided passages, "
                          "cite them as [1], [2], and say you do not know when they do not contain the answer.")

    # API
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    ui_port: int = Field(default=8501, ge=1, le=65535)
    api_url: str | None = Field(default=None, description="the API base URL `teamlore ui` points the UI at "
                                "(containers: http://api:8000); default: this host and port")
    rate_limit: str = "120/minute"
    max_upload_mb: int = Field(default=200, ge=1)
    max_json_mb: int = Field(default=2, ge=1, description="largest JSON request body (chat, admin routes; uploads "
                             "have max_upload_mb): parsing one costs ~45x its size in memory, before any gate")
    cors_origins: list[str] = Field(default_factory=list)
    admin_api_key: str | None = Field(default=None, description="bootstrap admin key, created on start if set")
    job_stale_after_s: int = Field(default=60, ge=2, description="a running job whose worker sent no heartbeat "
                                   "for this long is re-queued")
    metrics_port: int = Field(default=9400, ge=0, le=65535, description="`teamlore worker` serves Prometheus "
                              "metrics here; 0 = off")

    # Slack
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_workspace_url: str | None = Field(default=None, description="e.g. https://acme.slack.com/ (permalinks)")
    slack_resync_window_days: float = Field(default=7.0, ge=0, description="live sync re-reads this much history "
                                            "to catch edits and deletions")
    slack_help_channels: list[str] = Field(default_factory=list, description="channel ids or names where the bot "
                                           "answers unmentioned questions too")
    slack_support_group: str | None = Field(default=None, description="user group id (S…) or @handle that "
                                            "'Ask a human' mentions")
    slack_user_rate_limit: str = "20/minute"
    slack_channel_rate_limit: str = "60/minute"
    slack_update_interval_s: float = Field(default=1.0, ge=0.0, description="min seconds between streamed "
                                           "chat.update calls (Slack allows about one per second)")
    slack_workers: int = Field(default=8, ge=1, le=64, description="threads answering Slack questions")

    # Ingestion. Masking happens before anything is stored or indexed: secrets always; personal data (e-mail,
    # phone, card, IBAN, SSN, IP) by default too, so the stored messages, chunks, index and every answer hold
    # placeholders; training data masks everything whatever these say.
    mask_personal_data_in_index: bool = Field(default=True, description="mask personal data in stored messages, "
                                              "documents, chunks and the search index (false: an admin lets "
                                              "answers quote e-mails, phone numbers …; secrets stay masked)")
    retain_raw_text: bool = Field(default=False, description="keep each Slack message's raw markup with personal "
                                  "data (secrets still masked) so masking can be re-run after a rule change without "
                                  "re-importing; off by default because it is an unmasked copy of personal data")
    phone_regions: list[str] = Field(default_factory=lambda: ["US", "GB", "DE", "IN", "FR", "ES", "IT", "NL", "AU", "BR"],
                                     description="countries whose national phone formats are masked "
                                                 "(ISO codes; numbers written with + are masked for every country)")
    max_export_unpacked_mb: int = Field(default=4096, ge=1, description="zip bomb guard: total unpacked size")
    max_export_files: int = Field(default=200_000, ge=1, description="zip bomb guard: number of files")
    # Per-document limits, checked before the expensive work (parsing, chunking, embedding) starts
    max_document_chars: int = Field(default=2_000_000, ge=1000, description="characters of text per document")
    max_document_chunks: int = Field(default=5_000, ge=1, description="chunks per document; more: quarantined")
    index_batch_chunks: int = Field(default=2_000, ge=1, description="chunks embedded per index pass; the sync "
                                    "lock is released between passes so other uploads' index work interleaves")
    max_office_xml_mb: int = Field(default=64, ge=1, description="DOCX/PPTX bomb guard: decompressed XML")
    max_office_elements: int = Field(default=1_000_000, ge=100, description="DOCX/PPTX: XML elements")
    max_csv_rows: int = Field(default=100_000, ge=1, description="CSV rows per document")
    max_csv_cells: int = Field(default=1_000_000, ge=1, description="CSV rows x columns per document")

    # Concurrency and back-pressure: a busy server queues (bounded) and answers 429, never 500
    db_pool_size: int = Field(default=20, ge=1, description="database connections kept per process")
    db_max_overflow: int = Field(default=20, ge=0, description="extra connections under load")
    db_pool_timeout_s: float = Field(default=10.0, gt=0, description="wait for a free connection, then 429")
    max_concurrent_answers: int = Field(default=4, ge=1, description="answers generated at once per process")
    max_queued_answers: int = Field(default=128, ge=0, description="answers waiting for a slot; more: 429")
    answer_queue_timeout_s: float = Field(default=120.0, gt=0, description="longest wait for a slot, then 429")
    max_concurrent_uploads: int = Field(default=2, ge=1, description="uploads processed at once per process")
    max_queued_uploads: int = Field(default=16, ge=0, description="uploads waiting for a slot; more: 429")

    # Keys and sign-in
    session_key_ttl_hours: float = Field(default=24.0, gt=0, description="web sign-in keys expire after this")
    max_session_keys: int = Field(default=10, ge=1, description="live sign-in keys per user; the oldest go first")
    user_rate_limit: str = Field(default="240/minute", description="requests per user, across all their keys")
    login_rate_limit: str = Field(default="10/minute", description="sign-in attempts per account")
    login_client_rate_limit: str = Field(default="60/minute", description="sign-in attempts per client address "
                                         "(higher: many people may sign in from one office address)")

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        out = [r.strip().upper() for r in v if r.strip()]
        bad = [r for r in out if len(r) != 2 or not r.isalpha()]
        if bad:
            raise ValueError(f"phone_regions must be two-letter country codes (ISO 3166), got {bad}")
        return out

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, YamlSource(settings_cls), file_secret_settings)

    # Derived paths: everything Teamlore writes lives under data_dir.
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'teamlore.db'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.index_dir, self.datasets_dir, self.runs_dir, self.models_dir, self.uploads_dir):
            d.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one message that names each bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "?"
            parts.append(f"TEAMLORE_{name.upper()} ({name}): {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(parts)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
