"""Admin · retrain: pick a dataset version and a few settings, submit, then watch the job live."""
from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from ui.client import JOB_DONE_STATES, ApiError
from ui.common import api_errors, client, fmt_ago, rerun_with_toast, status_badge
from ui.presenters import (axis_domain, dataset_example_count, flatten_metrics, fmt_gpu_mem, job_error_text, last_step,
                           merge_metrics, metrics_frame)

api = client()


def metric_chart(series: pd.Series, title: str, color: str = "#4F46E5") -> alt.Chart:
    """A line chart whose y axis fits the data (Streamlit's default domain clipped early losses)."""
    data = series.dropna().rename("value").reset_index()
    return (alt.Chart(data, height=220).mark_line(color=color, point=len(data) < 30)
            .encode(x=alt.X("step:Q", title="step"),
                    y=alt.Y("value:Q", title=title, scale=alt.Scale(domain=list(axis_domain(data["value"])),
                                                                     nice=False, zero=False)),
                    tooltip=["step", "value"]))
WATCH = "watch_job"
POLL_SECONDS = 2.0  # 3 requests a poll: well inside the API's per-key rate limit
st.title(":material/model_training: Retrain")
st.caption("Adapt the base model to your team with LoRA on a reviewed dataset version. The result is a "
           "candidate model version you can compare and promote.")

datasets = []
with api_errors("Could not list the datasets"):
    datasets = api.datasets()

with st.expander("New training run", icon=":material/model_training:", expanded=True):
    if not datasets:
        st.info("No dataset versions yet — build one on the Datasets page first.", icon=":material/inbox:")
    else:
        by_version = {d["version"]: d for d in datasets}
        method = st.segmented_control(
            "Method", ["Adapt a base model (LoRA)", "Pretrain a small model"], key="train_method",
            default="Pretrain a small model",
            help="LoRA adapts a pretrained model available offline; pretraining builds a small model from the "
                 "team's own text (what the demo does on CPU).")
        lora = method == "Adapt a base model (LoRA)"
        with st.form("train_form"):
            version = st.selectbox(
                "Dataset version", list(by_version), key="train_dataset",
                format_func=lambda v: f"{v} — {by_version[v].get('name')} "
                                      f"({dataset_example_count(by_version[v].get('stats')) or '?'} examples)")
            model_col, steps_col, lr_col = st.columns([2, 1, 1])
            if lora:
                base_model = model_col.text_input("Base model", key="train_base_model",
                                                  placeholder="Hugging Face directory or hub id",
                                                  help="Available offline on the machine that trains; empty when "
                                                       "continuing from a version (its base model).")
            else:
                size = model_col.selectbox("Model size", ["demo", "tiny", "small", "base", "auto"], key="train_size",
                                           help="demo and tiny train in minutes on a CPU; auto picks by dataset size.")
            steps = steps_col.number_input("Steps", min_value=1, max_value=100_000, value=60, step=10,
                                           key="train_steps")
            lr = lr_col.number_input("Learning rate", min_value=1e-7, max_value=1e-1, value=2e-4 if lora else 3e-3,
                                     step=1e-5, format="%.1e", key=f"train_lr_{'lora' if lora else 'pretrain'}")
            lora_r, qlora = None, False
            recipe, since, parent = "sft", None, None
            if lora:
                lora_r = st.select_slider("LoRA rank r", [4, 8, 16, 32, 64], value=16, key="train_lora_r")
                qlora = st.checkbox("QLoRA: 4-bit base model", key="train_qlora",
                                    help="Stores the frozen base model in 4-bit NF4 (about a quarter of its memory), "
                                         "so an 8B model trains in under 20 GiB; a little slower than a bf16 base.")
                recipe_col, since_col = st.columns(2)
                recipe = recipe_col.selectbox(
                    "Recipe", ["sft", "dpo"], key="train_recipe",
                    format_func=lambda r: {"sft": "SFT — learn the answers", "dpo": "DPO — prefer corrected over "
                                           "rejected answers (feedback pairs)"}[r])
                version_names = []
                with api_errors("Could not list model versions"):
                    version_names = [v["name"] for v in api.model_versions()]
                since = since_col.selectbox(
                    "Include feedback since version", [None, "all", *version_names], key="train_feedback_since",
                    format_func=lambda v: "no feedback" if v is None else ("all feedback" if v == "all" else v),
                    help="👍 answers, 👎 answers with a comment or a correction, accepted review examples and "
                         "resolved Slack threads given after this version was registered; DPO needs them.")
                parent = st.selectbox(
                    "Continue from", [None, "live", "none", *version_names], key="train_parent",
                    format_func=lambda v: {None: "recipe default (DPO: the live version; SFT: a new adapter)",
                                           "live": "the live version", "none": "a new adapter on the base model"
                                           }.get(v, f"version {v}"),
                    help="Training starts from this version's adapter (on its base model: leave the base model "
                         "empty) and records it as the parent. DPO then keeps that version, frozen, as its "
                         "reference.")
            adapt = st.checkbox("Also adapt the retriever on the team's own questions and answers", key="train_adapt",
                                help="A new index version is published only if retrieval improves on held-out "
                                     "questions.")
            st.caption("Every run goes through the evaluation gate: it is promoted only if it answers no worse "
                       "than the live answerer on the held-out questions.")
            if st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:"):
                if lora and not base_model.strip() and parent in (None, "none") and recipe != "dpo":
                    st.error("Name the base model to adapt, choose a version to continue from, or choose "
                             "pretraining.")
                elif recipe == "dpo" and since is None:
                    st.error("DPO trains on preference pairs from feedback: choose which feedback to include.")
                else:
                    with api_errors("Could not start training"):
                        job = api.start_training(
                            version, base_model=base_model.strip() if lora else None, steps=int(steps),
                            learning_rate=float(lr), lora_r=int(lora_r) if lora else None, qlora=bool(qlora),
                            size=None if lora else size, recipe=recipe if lora else None,
                            feedback_since=since if lora else None, adapt_retriever=adapt or None,
                            parent_version=parent if lora else None)
                        st.session_state[WATCH] = job["id"]
                        rerun_with_toast(f"Training job #{job['id']} queued", ":material/model_training:")

# --- pick the job to watch ---------------------------------------------------------------------------
train_jobs = []
with api_errors("Could not list jobs"):
    train_jobs = [j for j in api.jobs() if j.get("kind") in ("train", "training", "finetune")]
if not train_jobs:
    st.info("No training runs yet.")
    st.stop()
train_jobs.sort(key=lambda j: j["id"], reverse=True)
ids = [j["id"] for j in train_jobs]
if st.session_state.get(WATCH) not in ids:
    st.session_state[WATCH] = ids[0]
by_id = {j["id"]: j for j in train_jobs}


def _dataset_of(job: dict) -> str:
    params = job.get("params") or {}
    return str(params.get("dataset_version") or params.get("dataset") or "")

watched = st.selectbox("Training run", ids, key=WATCH,
                       # (the live status is shown below, where it is kept up to date)
                       format_func=lambda i: f"#{i} · {_dataset_of(by_id[i])} · "
                                             f"created {fmt_ago(by_id[i].get('created_at'))}")


def _explain_waiting() -> None:
    """A queued job waits for a worker: say plainly when none is running, and how to start one."""
    try:
        worker = api.worker_status()
    except ApiError:
        return  # an older API without /v1/workers: the queued badge says enough
    if not worker.get("alive"):
        seen = worker.get("last_seen_s")
        st.warning("**No job worker is running**, so this job waits in the queue"
                   + (f" (the last worker was seen {seen:.0f} s ago)" if seen is not None else "") + ". "
                   "Start one next to the API with `teamlore worker` (`make run` starts one for you); "
                   "the job starts as soon as it is up.", icon=":material/engineering:")


def live_job_view(job_id: int, was_active: bool) -> None:
    """Re-run every POLL_SECONDS while the job is active (st.fragment), fetching only new metric points."""
    try:
        job = api.job(job_id)
        cache_key = f"metrics_{job_id}"
        points = st.session_state.get(cache_key, [])
        points = merge_metrics(points, api.job_metrics(job_id, after_step=last_step(points)))
        st.session_state[cache_key] = points
        logs = api.job_logs(job_id)
    except ApiError as exc:
        st.error(exc.user_message, icon=":material/error:")
        return
    status = job.get("status")
    active = status not in JOB_DONE_STATES
    frame = metrics_frame(points)
    total_steps = (job.get("params") or {}).get("steps")
    step = int(frame.index.max()) if not frame.empty else 0
    progress = float(job.get("progress") or (1.0 if status == "succeeded" else 0.0))
    st.progress(min(max(progress, 0.0), 1.0),
                text=f"{status_badge(status)} · step {step}" + (f"/{total_steps}" if total_steps else "")
                     + f" · {progress:.0%}")
    latest = frame.iloc[-1] if not frame.empty else None
    m1, m2, m3, m4 = st.columns(4, border=True)
    m1.metric("Loss", f"{latest['loss']:.4f}" if latest is not None and latest["loss"] == latest["loss"] else "—")
    m2.metric("Learning rate", f"{latest['lr']:.2e}" if latest is not None and latest["lr"] == latest["lr"] else "—")
    m3.metric("Tokens/s", f"{latest['tokens_per_s']:,.0f}"
              if latest is not None and latest["tokens_per_s"] == latest["tokens_per_s"] else "—")
    m4.metric("GPU memory", fmt_gpu_mem(latest["gpu_mem"] if latest is not None else None))
    loss_col, lr_col = st.columns(2)
    with loss_col:
        st.caption("Training loss")
        if frame["loss"].notna().any():
            st.altair_chart(metric_chart(frame["loss"], "loss"), width="stretch")
        else:
            st.caption("waiting for the first step…")
    with lr_col:
        st.caption("Learning rate")
        if frame["lr"].notna().any():
            st.altair_chart(metric_chart(frame["lr"], "learning rate", color="#F59E0B"), width="stretch")
        else:
            st.caption("waiting for the first step…")
    with st.expander("Logs", icon=":material/terminal:", expanded=active):
        st.code("\n".join(logs[-200:]) or "(no output yet)", language=None, height=220)
    if status == "queued":
        _explain_waiting()
    if status == "succeeded":
        result = job.get("result") or {}
        produced = result.get("model_version") or result.get("name")
        name = produced.get("name") if isinstance(produced, dict) else produced
        st.success(f"Training finished{': model version **' + str(name) + '** is ready to compare and promote' if name else ''}.",
                   icon=":material/celebration:")
        st.page_link(str(Path(__file__).with_name("admin_models.py")), label="Go to model versions",
                     icon=":material/arrow_forward:")
    elif status == "failed":
        st.error(f"Training failed: {job_error_text(job.get('error'))}", icon=":material/cancel:")
    elif status == "cancelled":
        st.warning("Training was cancelled.", icon=":material/block:")
    if active and st.button("Cancel training", key=f"cancel_{job_id}", icon=":material/stop:"):
        with api_errors("Could not cancel"):
            api.cancel_job(job_id)
            st.toast("Cancellation requested", icon=":material/block:")
    if was_active and not active:
        st.rerun()  # whole page: stop polling, refresh the run list


with st.container(border=True):
    st.subheader(f"Run #{watched}")
    params = by_id[watched].get("params") or {}
    if params:
        st.caption(" · ".join(f"{k.replace('_', ' ')}: {v}" for k, v in flatten_metrics(params).items()))
    is_active = by_id[watched].get("status") not in JOB_DONE_STATES
    # Poll only while the job runs; a finished job is drawn once.
    st.fragment(run_every=POLL_SECONDS if is_active else None)(live_job_view)(watched, is_active)
