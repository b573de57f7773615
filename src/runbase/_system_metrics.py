"""System metrics sampled in the background while a run is active: CPU, memory, disk, network,
this process's memory, and NVIDIA GPUs when ``nvidia-ml-py`` is installed.

The keys are MLflow's (``system/cpu_utilization_percentage``,
``system/gpu_0_memory_usage_megabytes``, ...), so the UI's System metrics tab and MLflow's
tooling read them alike. Each sample is one
point per key at the next step (0, 1, 2, ...), queued like any other metric: sampling never
waits on the store.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Any, Final

from runbase.errors import InvalidInputError, RunbaseError

if TYPE_CHECKING:
    from runbase.client import Client

__all__ = [
    "ENABLE_ENV",
    "INTERVAL_ENV",
    "MLFLOW_ENABLE_ENV",
    "SystemMetricsMonitor",
    "enabled_by_env",
]

#: ``true`` turns system metrics on for every run started with the fluent API.
ENABLE_ENV: Final = "RUNBASE_ENABLE_SYSTEM_METRICS_LOGGING"
#: Seconds between samples (default 10, like MLflow).
INTERVAL_ENV: Final = "RUNBASE_SYSTEM_METRICS_SAMPLING_INTERVAL"
DEFAULT_INTERVAL: Final = 10.0
_MB: Final = 1024 * 1024


#: MLflow's switch, honoured too so ``import runbase as mlflow`` set-ups keep working.
MLFLOW_ENABLE_ENV: Final = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"


def enabled_by_env() -> bool:
    value = os.environ.get(ENABLE_ENV) or os.environ.get(MLFLOW_ENABLE_ENV) or ""
    return value.strip().lower() in ("1", "true", "yes", "on")


def _interval_from_env() -> float:
    raw = os.environ.get(INTERVAL_ENV)
    if raw is None:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(f"{INTERVAL_ENV} must be a number of seconds: {raw!r}") from None
    if not value > 0:
        raise InvalidInputError(f"{INTERVAL_ENV} must be above 0: {raw!r}")
    return value


class _Gpus:
    """NVIDIA GPUs through NVML, or none when ``nvidia-ml-py`` or a driver is missing."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.nvml: Any = None
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            self.handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
            self.nvml = pynvml
        except Exception:  # no library, no driver or no device: no GPU metrics
            self.handles = []

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        nvml = self.nvml
        for i, handle in enumerate(self.handles):
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                out[f"system/gpu_{i}_utilization_percentage"] = float(rates.gpu)
                out[f"system/gpu_{i}_memory_usage_megabytes"] = memory.used / _MB
                out[f"system/gpu_{i}_memory_usage_percentage"] = 100 * memory.used / memory.total
                watts = nvml.nvmlDeviceGetPowerUsage(handle) / 1000
                out[f"system/gpu_{i}_power_usage_watts"] = watts
            except Exception:  # a device that stops answering is skipped
                continue
        return out

    def close(self) -> None:
        if self.nvml is not None:
            with contextlib.suppress(Exception):  # a library that already failed
                self.nvml.nvmlShutdown()


class SystemMetricsMonitor:
    """Samples the machine every ``interval`` seconds and logs it to ``run_id`` until stopped."""

    def __init__(self, client: Client, run_id: str, interval: float | None = None) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is a base dependency
            raise InvalidInputError("System metrics need psutil: pip install psutil") from None
        self._psutil = psutil
        self.client = client
        self.run_id = run_id
        self.interval = _interval_from_env() if interval is None else interval
        if not self.interval > 0:
            raise InvalidInputError(f"The sampling interval must be above 0: {self.interval}")
        self.step = 0
        self.error: RunbaseError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"runbase-system-metrics-{run_id[:8]}", daemon=True
        )
        self._process = psutil.Process()
        self._net = psutil.net_io_counters()
        self._gpus: _Gpus | None = None

    def start(self) -> SystemMetricsMonitor:
        self._psutil.cpu_percent(None)  # the first reading only starts the measuring window
        self._thread.start()
        return self

    def stop(self) -> RunbaseError | None:
        """Stop sampling, once the sampler thread has ended; return the error that stopped it
        early, if one did (the caller raises it: a logging error is never swallowed)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._gpus is not None:
            self._gpus.close()
        return self.error

    def sample(self) -> dict[str, float]:
        """One reading of every metric, by key."""
        ps = self._psutil
        memory = ps.virtual_memory()
        out = {
            "system/cpu_utilization_percentage": ps.cpu_percent(None),
            "system/system_memory_usage_megabytes": (memory.total - memory.available) / _MB,
            "system/system_memory_usage_percentage": memory.percent,
            "system/process_memory_rss_megabytes": self._process.memory_info().rss / _MB,
        }
        try:
            disk = ps.disk_usage(os.getcwd())
            out |= {
                "system/disk_usage_percentage": disk.percent,
                "system/disk_usage_megabytes": disk.used / _MB,
                "system/disk_available_megabytes": disk.free / _MB,
            }
        except OSError:  # the working directory went away: no disk figures this time
            pass
        net = ps.net_io_counters()
        if net is not None and self._net is not None:
            out["system/network_receive_megabytes"] = (net.bytes_recv - self._net.bytes_recv) / _MB
            out["system/network_transmit_megabytes"] = (net.bytes_sent - self._net.bytes_sent) / _MB
        if self._gpus is None:
            self._gpus = _Gpus()
        return out | self._gpus.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for key, value in self.sample().items():
                    self.client.log_metric(self.run_id, key, float(value), step=self.step)
            except RunbaseError as exc:
                # Raised here, the writer's error would not reach the training code: keep it
                # for end_run to raise, and stop sampling.
                self.error = exc
                return
            self.step += 1
