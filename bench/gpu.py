"""What a training or prediction run cost: wall and CPU time, peak memory, and on GPUs NVML samples.

:class:`GpuSampler` is a context manager. NVML (``pynvml`` from nvidia-ml-py) is imported and
probed only in ``__enter__``, only when the run is on a CUDA device; a background thread samples
memory, utilisation and power. Energy is the NVML total-energy counter's delta where the GPU has
one, else the integral of sampled power. On a machine without a GPU or NVML the GPU fields are
``None`` with a ``reason`` — the sampler never makes a run fail. CPU time and peak RSS are always
recorded.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

MB = 1024 * 1024

GPU_FIELDS = (
    "name",
    "driver_version",
    "nvml_index",
    "peak_memory_used_mb",
    "torch_max_memory_allocated_mb",
    "torch_max_memory_reserved_mb",
    "mean_utilization_pct",
    "mean_power_w",
    "energy_j",
    "energy_method",
    "samples",
)


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One NVML reading; ``None`` where the device does not report that quantity."""

    t: float
    memory_used_bytes: int | None = None
    utilization_pct: float | None = None
    power_w: float | None = None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def integrate_power(samples: Sequence[GpuSample]) -> float | None:
    """Energy in joules by the trapezoid rule over samples that have a power reading.

    >>> integrate_power([GpuSample(0.0, power_w=100.0), GpuSample(2.0, power_w=200.0)])
    300.0
    """
    pts = [(s.t, s.power_w) for s in samples if s.power_w is not None]
    if len(pts) < 2:
        return None
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(pts, pts[1:], strict=False))


def summarize_samples(
    samples: Sequence[GpuSample], *, energy_counter_j: float | None = None
) -> dict[str, Any]:
    """Peak memory, mean utilisation and power, and energy from a series of samples.

    ``energy_counter_j`` is the NVML total-energy delta when the device supports the counter; it is
    preferred over integrating sampled power, which misses what happens between samples.
    """
    mem = [s.memory_used_bytes for s in samples if s.memory_used_bytes is not None]
    util = [s.utilization_pct for s in samples if s.utilization_pct is not None]
    power = [s.power_w for s in samples if s.power_w is not None]
    if energy_counter_j is not None:
        energy, method = energy_counter_j, "nvml_total_energy_counter"
    else:
        energy = integrate_power(samples)
        method = "power_integration" if energy is not None else None
    return {
        "peak_memory_used_mb": max(mem) / MB if mem else None,
        "mean_utilization_pct": _mean(util),
        "mean_power_w": _mean(power),
        "energy_j": energy,
        "energy_method": method,
        "samples": len(samples),
    }


def _rss_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001 - measurement must never fail a run
        return None


def max_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB of this process (``RUSAGE_SELF``) or of its reaped children
    (``RUSAGE_CHILDREN``): ``ru_maxrss`` is KiB on Linux and bytes on macOS."""
    return rusage_peak_mb(resource.getrusage(who))


def rusage_peak_mb(usage: Any) -> float:
    """``ru_maxrss`` of a ``resource.struct_rusage`` (from ``getrusage`` or ``os.wait4``) in MiB."""
    scale = 1.0 / MB if sys.platform == "darwin" else 1.0 / 1024.0
    return usage.ru_maxrss * scale


def process_cost(
    *, executor: str, job_started_at: float, startup_seconds: float | None, import_seconds: float | None
) -> dict[str, Any]:
    """What this process has cost so far, as a result's ``cost.process`` block.

    Called in a cell's own process (``--executor local`` or ``ray``) after training and prediction,
    before scoring, so a cell's figures are its own and never an earlier cell's: peak RSS and CPU
    seconds (user + system, all threads) over the process's whole life (interpreter, imports, task
    data, training, prediction); wall seconds since the cell's job arrived (``startup_seconds`` of
    them before training began: reading the task data); ``import_seconds``, the process's start-up
    before its job came. On a GPU, torch's peak allocated memory over the process sits beside NVML's
    device peak (``cost.gpu.peak_memory_used_mb``, sampled while training).
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "executor": executor,
        "scope": "the cell's own process: interpreter, imports, its task data, training and prediction",
        "peak_rss_mb": rusage_peak_mb(usage),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "wall_seconds": time.time() - job_started_at,
        "startup_seconds": startup_seconds,
        "import_seconds": import_seconds,
        **_torch_process_peak(),
    }


def _torch_process_peak() -> dict[str, float | None]:
    """torch's peak allocated/reserved CUDA memory over the process's life (``None`` without CUDA use)."""
    torch = sys.modules.get("torch")  # never import torch just to measure: a CRF cell does not load it
    try:
        if torch is None or not torch.cuda.is_initialized():
            return {"torch_max_memory_allocated_mb": None, "torch_max_memory_reserved_mb": None}
        return {
            "torch_max_memory_allocated_mb": torch.cuda.max_memory_allocated() / MB,
            "torch_max_memory_reserved_mb": torch.cuda.max_memory_reserved() / MB,
        }
    except Exception:  # noqa: BLE001 - measurement must never fail a run
        return {"torch_max_memory_allocated_mb": None, "torch_max_memory_reserved_mb": None}


def _cuda_index(device: Any) -> int | None:
    """CUDA ordinal of ``device`` (``"cuda"``, ``"cuda:1"``, ``torch.device``), or None for CPU."""
    if device is None:
        return None
    text = str(device)
    if not text.startswith("cuda"):
        return None
    _, _, idx = text.partition(":")
    if idx.isdigit():
        return int(idx)
    try:
        import torch

        return int(torch.cuda.current_device())
    except Exception:  # noqa: BLE001
        return 0


class GpuSampler:
    """Measure the cost of the ``with`` block; read :meth:`summary` afterwards.

    ``device`` is where the run executes (``"cpu"``, ``"cuda:0"``, a ``torch.device``); GPU
    sampling only happens for CUDA devices. ``nvml_index`` forces an NVML device (tests, tools).
    """

    def __init__(self, *, device: Any = None, interval_s: float = 0.5, nvml_index: int | None = None) -> None:
        self.device = device
        self.interval_s = interval_s
        self._cuda_index = _cuda_index(device)
        self._nvml_index = nvml_index
        self._nvml: Any = None
        self._handle: Any = None
        self._reason: str | None = None
        self._static: dict[str, Any] = {}
        self._samples: list[GpuSample] = []
        self._peak_rss_sampled: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._energy_start_mj: int | None = None
        self._energy_j: float | None = None
        self._t0 = self._cpu0 = 0.0
        self._wall = self._cpu = 0.0
        self._torch_mem: dict[str, float | None] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> GpuSampler:
        self._t0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._peak_rss_sampled = _rss_bytes()
        self._probe()
        if self._cuda_index is not None:
            try:
                import torch

                torch.cuda.reset_peak_memory_stats(self._cuda_index)
            except Exception as exc:  # noqa: BLE001
                log.debug("could not reset torch peak memory stats: %s", exc)
        if self._handle is not None:
            self._energy_start_mj = self._energy_mj()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="nerbench-gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sample()
        self._wall = time.perf_counter() - self._t0
        self._cpu = time.process_time() - self._cpu0
        if self._handle is not None and self._energy_start_mj is not None:
            end = self._energy_mj()
            if end is not None and end >= self._energy_start_mj:
                self._energy_j = (end - self._energy_start_mj) / 1000.0
        self._torch_mem = self._torch_memory()
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    # ------------------------------------------------------------------ probing and sampling

    def _probe(self) -> None:
        index = self._nvml_index
        if index is None and self._cuda_index is None:
            self._reason = f"run on {self.device or 'cpu'}, not a CUDA device"
            return
        try:
            import pynvml
        except ImportError:
            self._reason = "pynvml (nvidia-ml-py) is not installed"
            return
        try:
            pynvml.nvmlInit()
        except Exception as exc:  # noqa: BLE001 - NVMLError subclasses, OSError from the loader
            self._reason = f"NVML unavailable: {exc}"
            return
        self._nvml = pynvml
        try:
            self._handle, index = self._find_handle(pynvml, index)
            name = pynvml.nvmlDeviceGetName(self._handle)
            driver = pynvml.nvmlSystemGetDriverVersion()
            self._static = {
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "driver_version": driver.decode() if isinstance(driver, bytes) else str(driver),
                "nvml_index": index,
            }
        except Exception as exc:  # noqa: BLE001
            self._reason = f"NVML device query failed: {exc}"
            self._handle = None

    def _find_handle(self, nvml: Any, index: int | None) -> tuple[Any, int | None]:
        """The NVML handle of the torch device: by UUID when torch knows it, else by visible index."""
        if index is not None:
            return nvml.nvmlDeviceGetHandleByIndex(index), index
        try:
            import torch

            uuid = str(torch.cuda.get_device_properties(self._cuda_index).uuid)
            uuid = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
            return nvml.nvmlDeviceGetHandleByUUID(uuid), None
        except Exception:  # noqa: BLE001 - fall back to CUDA_VISIBLE_DEVICES / the ordinal
            pass
        visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        idx = self._cuda_index or 0
        if idx < len(visible) and visible[idx].isdigit():
            idx = int(visible[idx])
        return nvml.nvmlDeviceGetHandleByIndex(idx), idx

    def _energy_mj(self) -> int | None:
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception:  # noqa: BLE001 - not supported on pre-Volta GPUs and some vGPUs
            return None

    def _sample(self) -> None:
        rss = _rss_bytes()
        if rss is not None:
            self._peak_rss_sampled = max(rss, self._peak_rss_sampled or 0)
        if self._handle is None:
            return
        nvml, h = self._nvml, self._handle
        mem = util = power = None
        try:
            mem = int(nvml.nvmlDeviceGetMemoryInfo(h).used)
        except Exception:  # noqa: BLE001
            pass
        try:
            util = float(nvml.nvmlDeviceGetUtilizationRates(h).gpu)
        except Exception:  # noqa: BLE001
            pass
        try:
            power = nvml.nvmlDeviceGetPowerUsage(h) / 1000.0
        except Exception:  # noqa: BLE001
            pass
        with self._lock:
            self._samples.append(GpuSample(time.perf_counter() - self._t0, mem, util, power))

    def _torch_memory(self) -> dict[str, float | None]:
        if self._cuda_index is None:
            return {"torch_max_memory_allocated_mb": None, "torch_max_memory_reserved_mb": None}
        try:
            import torch

            if not torch.cuda.is_available():  # an uninitialised CUDA reports zeros, not a measurement
                return {"torch_max_memory_allocated_mb": None, "torch_max_memory_reserved_mb": None}
            return {
                "torch_max_memory_allocated_mb": torch.cuda.max_memory_allocated(self._cuda_index) / MB,
                "torch_max_memory_reserved_mb": torch.cuda.max_memory_reserved(self._cuda_index) / MB,
            }
        except Exception:  # noqa: BLE001
            return {"torch_max_memory_allocated_mb": None, "torch_max_memory_reserved_mb": None}

    # ------------------------------------------------------------------ results

    @property
    def samples(self) -> list[GpuSample]:
        with self._lock:
            return list(self._samples)

    def gpu_summary(self) -> dict[str, Any]:
        """The GPU block: every field in :data:`GPU_FIELDS`, ``None`` with a ``reason`` when absent."""
        out: dict[str, Any] = dict.fromkeys(GPU_FIELDS)
        out.update(self._torch_mem)
        if self._handle is None:
            out["available"] = False
            out["reason"] = self._reason or "not sampled"
            return out
        out.update(self._static)
        out.update(summarize_samples(self.samples, energy_counter_j=self._energy_j))
        out["available"] = True
        out["reason"] = None
        out["interval_s"] = self.interval_s
        return out

    def summary(self) -> dict[str, Any]:
        """The cost block of a result: wall and CPU seconds, peak RSS, and the GPU block."""
        return {
            "wall_seconds": self._wall,
            "cpu_seconds": self._cpu,
            "peak_rss_mb": self._peak_rss_sampled / MB if self._peak_rss_sampled is not None else None,
            "process_max_rss_mb": max_rss_mb(),
            "gpu": self.gpu_summary(),
        }
