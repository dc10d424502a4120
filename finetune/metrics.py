"""Per-step metrics and alerts (NaN/inf loss, loss spikes, stalls)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


def gpu_memory_gib() -> float | None:
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 3)


_nvml = None


def gpu_utilization() -> float | None:
    """GPU utilisation in percent through NVML when nvidia-ml-py is installed; None otherwise."""
    global _nvml
    if not torch.cuda.is_available():
        return None
    try:
        if _nvml is None:
            import pynvml
            pynvml.nvmlInit()
            _nvml = pynvml
        handle = _nvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        return float(_nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except Exception:
        return None


@dataclass
class Monitor:
    """Turns raw step figures into a metrics dict, keeps a short history, and raises alerts."""
    spike_factor: float = 3.0
    stall_steps: int = 50
    callback: Callable[[dict], None] | None = None
    history: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    _ema: float | None = None
    _best: float = math.inf
    _best_step: int = 0
    _t_last: float = field(default_factory=time.perf_counter)

    def reset_clock(self) -> None:
        self._t_last = time.perf_counter()

    def alert(self, step: int, kind: str, message: str) -> None:
        self.alerts.append({"step": step, "kind": kind, "message": message})

    def step(self, step: int, *, loss: float, lr: float, grad_norm: float | None, tokens: int,
             extra: dict | None = None) -> dict:
        now = time.perf_counter()
        dt = max(now - self._t_last, 1e-9)
        self._t_last = now
        m = {"step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens": tokens,
             "tokens_per_s": round(tokens / dt, 1), "step_s": round(dt, 4)}
        mem = gpu_memory_gib()
        if mem is not None:
            m["gpu_mem_gib"] = mem
            util = gpu_utilization()
            if util is not None:
                m["gpu_util"] = util
        if extra:
            m.update(extra)
        if not math.isfinite(loss):
            self.alert(step, "nonfinite_loss", f"loss is {loss} at step {step}; the update was skipped")
        else:
            if self._ema is not None and step > 5 and loss > self.spike_factor * self._ema:
                self.alert(step, "loss_spike", f"loss {loss:.3f} is over {self.spike_factor}x its recent "
                                               f"average {self._ema:.3f}")
            self._ema = loss if self._ema is None else 0.9 * self._ema + 0.1 * loss
            if loss < self._best - 1e-4:
                self._best, self._best_step = loss, step
            elif step - self._best_step == self.stall_steps:
                self.alert(step, "stall", f"no loss improvement for {self.stall_steps} steps "
                                          f"(best {self._best:.4f} at step {self._best_step})")
        m["alerts"] = [a for a in self.alerts if a["step"] == step]
        self.history.append(m)
        if self.callback is not None:
            self.callback(m)
        return m

    def state_dict(self) -> dict:
        return {"ema": self._ema, "best": self._best, "best_step": self._best_step, "alerts": list(self.alerts)}

    def load_state_dict(self, s: dict) -> None:
        self._ema, self._best, self._best_step = s["ema"], s["best"], s["best_step"]
        self.alerts = list(s["alerts"])
