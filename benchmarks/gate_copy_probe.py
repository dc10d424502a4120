"""Can the training gate be fooled by a "model" that only copies its prompt or answers nothing?

Scores fake generators through the real answer engine on a dataset version's held-out questions, beside the
extractive answerer, and prints the gate's verdict (app.answering.evaluation.gate_decision):
  empty     answers nothing
  user      repeats the question
  prompt    copies the whole prompt (instructions + fenced passages + question)
  passages  copies every passage body, each with its [n]
  first     copies the first passage body + " [1]"
  first200  the first 200 characters of it + " [1]"

    TEAMLORE_DATA_DIR=var python benchmarks/gate_copy_probe.py DATASET_VERSION [how ...]
"""
from __future__ import annotations

import json
import re
import sys

from app.answering.evaluation import gate_decision
from app.settings import get_settings
from app.workflows.training import evaluate_answers

FIGURES = ("answer_f1", "keyword_hits", "citation_hit_rate", "citations_written", "abstention_rate",
           "prompt_copies")


class Copier:
    def __init__(self, how: str):
        self.name, self.how = f"copier-{how}", how

    def stream(self, messages, params, cancel=None):
        bodies = re.findall(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', messages[0]["content"], re.S)
        if self.how == "prompt":
            yield "\n".join(m["content"] for m in messages)
        elif self.how == "user":
            yield messages[-1]["content"]
        elif self.how == "passages":
            yield " ".join(f"{b} [{n}]" for n, b in bodies)
        elif self.how == "first" and bodies:
            yield f"{bodies[0][1]} [1]"
        elif self.how == "first200" and bodies:
            yield f"{bodies[0][1][:200]} [1]"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    @property
    def context_window(self) -> int:
        return 4096


def main() -> None:
    settings = get_settings()
    version, hows = sys.argv[1], sys.argv[2:] or ["empty", "user", "prompt", "passages", "first", "first200"]
    ds = settings.datasets_dir / version
    for how in hows:
        ans = evaluate_answers(settings, ds, Copier(how), f"copier-{how}")
        gate = gate_decision(ans, None, live_name=ans.get("live_name"))
        print(how, json.dumps({k: ans["candidate"].get(k) for k in FIGURES}))
        print("  extractive", json.dumps({k: ans["extractive"].get(k) for k in FIGURES}))
        print("  gate passed:", gate["passed"], gate["reasons"])


if __name__ == "__main__":
    main()
