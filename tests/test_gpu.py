"""GpuSampler: never fails without a GPU, and aggregates NVML samples correctly (fake pynvml)."""

from __future__ import annotations

import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from bench.gpu import GPU_FIELDS, GpuSample, GpuSampler, integrate_power, summarize_samples

REPO = Path(__file__).resolve().parent.parent


def test_cpu_run_records_cpu_cost_and_null_gpu_fields_with_reason() -> None:
    with GpuSampler(device="cpu", interval_s=0.01) as s:
        sum(i * i for i in range(200_000))
    cost = s.summary()
    assert cost["wall_seconds"] > 0
    assert cost["cpu_seconds"] > 0
    assert cost["peak_rss_mb"] > 1
    assert cost["process_max_rss_mb"] > 1
    gpu = cost["gpu"]
    assert gpu["available"] is False
    assert "cpu" in gpu["reason"]
    assert all(gpu[k] is None for k in GPU_FIELDS)


def test_import_and_construction_do_not_probe_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import sys, bench.gpu; bench.gpu.GpuSampler(device='cuda:0'); assert 'pynvml' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    calls = []
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: calls.append("init")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    GpuSampler(device="cuda:0")
    assert calls == []


def test_cuda_device_without_nvml_library_gives_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")

    def fail() -> None:
        raise OSError("NVML Shared Library Not Found")

    fake.nvmlInit = fail  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with GpuSampler(device="cuda:0", interval_s=0.01) as s:
        pass
    gpu = s.summary()["gpu"]
    assert gpu["available"] is False
    assert "NVML" in gpu["reason"]


def test_real_pynvml_on_this_machine_never_crashes() -> None:
    with GpuSampler(nvml_index=0, interval_s=0.01) as s:
        time.sleep(0.02)
    gpu = s.summary()["gpu"]
    assert set(GPU_FIELDS) <= set(gpu)
    assert gpu["available"] in (True, False)
    if not gpu["available"]:
        assert gpu["reason"]


def test_summarize_samples_maths() -> None:
    samples = [
        GpuSample(0.0, memory_used_bytes=100 * 2**20, utilization_pct=10.0, power_w=100.0),
        GpuSample(1.0, memory_used_bytes=300 * 2**20, utilization_pct=50.0, power_w=200.0),
        GpuSample(3.0, memory_used_bytes=200 * 2**20, utilization_pct=90.0, power_w=None),
        GpuSample(4.0, memory_used_bytes=None, utilization_pct=None, power_w=100.0),
    ]
    out = summarize_samples(samples)
    assert out["peak_memory_used_mb"] == 300
    assert out["mean_utilization_pct"] == pytest.approx(50.0)
    assert out["mean_power_w"] == pytest.approx(400 / 3)
    # trapezoid over (0,100) (1,200) (4,100): 150 + 450
    assert out["energy_j"] == pytest.approx(600.0)
    assert out["energy_method"] == "power_integration"
    assert out["samples"] == 4
    counter = summarize_samples(samples, energy_counter_j=42.0)
    assert counter["energy_j"] == 42.0 and counter["energy_method"] == "nvml_total_energy_counter"
    assert integrate_power([GpuSample(0.0, power_w=5.0)]) is None
    assert summarize_samples([])["energy_j"] is None


def _fake_nvml(*, energy_supported: bool) -> tuple[types.ModuleType, dict[str, int]]:
    """A pynvml stand-in: memory grows 1 MiB per reading, util 40/60 alternating, power 150 W."""
    state = {"reads": 0, "energy_mj": 1_000_000, "shutdown": 0}
    mod = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def mem_info(handle: object) -> types.SimpleNamespace:
        state["reads"] += 1
        return types.SimpleNamespace(used=(1000 + state["reads"]) * 2**20, total=80 * 2**30)

    def util(handle: object) -> types.SimpleNamespace:
        return types.SimpleNamespace(gpu=40 if state["reads"] % 2 else 60, memory=5)

    def energy(handle: object) -> int:
        if not energy_supported:
            raise NVMLError("Not Supported")
        state["energy_mj"] += 2500  # 2.5 J per call
        return state["energy_mj"]

    mod.NVMLError = NVMLError  # type: ignore[attr-defined]
    mod.nvmlInit = lambda: None  # type: ignore[attr-defined]
    mod.nvmlShutdown = lambda: state.__setitem__("shutdown", state["shutdown"] + 1)  # type: ignore[attr-defined]
    mod.nvmlDeviceGetHandleByIndex = lambda i: ("handle", i)  # type: ignore[attr-defined]
    mod.nvmlDeviceGetName = lambda h: b"Fake H100"  # type: ignore[attr-defined]
    mod.nvmlSystemGetDriverVersion = lambda: "999.1"  # type: ignore[attr-defined]
    mod.nvmlDeviceGetMemoryInfo = mem_info  # type: ignore[attr-defined]
    mod.nvmlDeviceGetUtilizationRates = util  # type: ignore[attr-defined]
    mod.nvmlDeviceGetPowerUsage = lambda h: 150_000  # type: ignore[attr-defined]  # mW
    mod.nvmlDeviceGetTotalEnergyConsumption = energy  # type: ignore[attr-defined]
    return mod, state


@pytest.mark.parametrize("energy_supported", [True, False])
def test_fake_nvml_aggregation(monkeypatch: pytest.MonkeyPatch, energy_supported: bool) -> None:
    mod, state = _fake_nvml(energy_supported=energy_supported)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    with GpuSampler(nvml_index=0, interval_s=0.005) as s:
        time.sleep(0.08)
    cost = s.summary()
    gpu = cost["gpu"]
    samples = s.samples
    assert gpu["available"] is True and gpu["reason"] is None
    assert gpu["name"] == "Fake H100" and gpu["driver_version"] == "999.1" and gpu["nvml_index"] == 0
    assert gpu["samples"] == len(samples) == state["reads"] >= 3
    assert gpu["peak_memory_used_mb"] == 1000 + state["reads"]
    assert gpu["mean_power_w"] == pytest.approx(150.0)
    utils = [x.utilization_pct for x in samples]
    assert gpu["mean_utilization_pct"] == pytest.approx(sum(utils) / len(utils))
    assert set(utils) <= {40.0, 60.0}
    if energy_supported:
        assert gpu["energy_method"] == "nvml_total_energy_counter"
        assert gpu["energy_j"] == pytest.approx(2.5)  # one reading at enter, one at exit
    else:
        span = samples[-1].t - samples[0].t
        assert gpu["energy_method"] == "power_integration"
        assert gpu["energy_j"] == pytest.approx(150.0 * span)
    assert state["shutdown"] == 1
    assert gpu["torch_max_memory_allocated_mb"] is None  # not a torch CUDA device
