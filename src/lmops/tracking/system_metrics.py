"""Sample CPU, memory and (when nvidia-ml-py is installed) GPU use while a run is active."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psutil

log = logging.getLogger(__name__)
LogFn = Callable[[dict[str, float], int], None]


class SystemMetricsMonitor:
    """A daemon thread that logs `system/*` metrics every `interval` seconds."""

    def __init__(self, log_fn: LogFn, interval: float = 10.0) -> None:
        self.log_fn = log_fn
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lmops-system-metrics", daemon=True)
        self._nvml: Any = _load_nvml()

    def start(self) -> None:
        psutil.cpu_percent(None)  # the first reading only sets the baseline
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)

    def sample(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        values = {
            "system/cpu_percent": float(psutil.cpu_percent(None)),
            "system/memory_used_mb": memory.used / 2**20,
            "system/memory_percent": float(memory.percent),
        }
        values.update(self._gpu())
        return values

    def _gpu(self) -> dict[str, float]:
        if self._nvml is None:
            return {}
        values: dict[str, float] = {}
        nvml = self._nvml
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            values[f"system/gpu_{i}_utilization_percent"] = float(util.gpu)
            values[f"system/gpu_{i}_memory_used_mb"] = mem.used / 2**20
        return values

    def _loop(self) -> None:
        step = 0
        while not self._stop.wait(self.interval):
            try:
                self.log_fn(self.sample(), step)
            except Exception as exc:  # monitoring must never break the run it watches
                log.warning("lmops: system metrics sample failed: %s", exc)
            step += 1


def _load_nvml() -> Any:
    try:
        import pynvml  # from the 'gpu' extra (nvidia-ml-py)

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None
