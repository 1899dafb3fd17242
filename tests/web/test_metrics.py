"""`GET /metrics` after a real sync of an emulated farm, fed through the engine's observer."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from web_helpers import RecordingControl, ServerFactory

import link_sync
from link_sync.emulator.spec import PrinterSpec
from link_sync.emulator.testing import FarmFactory
from link_sync.watch.observer import FarmObserver
from link_sync.watch.state import FarmState

from sync_helpers import FAST_RETRY, Master

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_count_a_real_sync_and_show_each_printer(
    farm_factory: FarmFactory,
    master: Master,
    tmp_path: Path,
    state_env: dict[str, str],
    serve: ServerFactory,
) -> None:
    emulated = await farm_factory(
        [
            PrinterSpec("mk4-01", files={"old.gcode": 5}),
            PrinterSpec(
                "xl-02", profile="xl", files={"j.gcode": 9}, job_file="j.gcode", state="PRINTING"
            ),
            PrinterSpec("mini-03", profile="mini"),
        ]
    )
    emulated["mini-03"].go_offline()
    master.write("a.gcode", b"G1\n" * 1000)
    master.write("b.gcode", b"G28\n")
    farm = FarmState([(p.name, p.url) for p in emulated], master=str(master.root))
    farm.set_master(str(master.root), files=2, available=True)
    base = await serve(farm, RecordingControl(farm))

    await link_sync.sync_async(
        link_sync.Config(**emulated.config(source=master.root)),
        observer=FarmObserver(farm),
        retry=FAST_RETRY,
        state_dir=state_env["LINK_SYNC_STATE_DIR"],
    )

    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{base}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(answer.text)

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    assert value("link_sync_up", printer="mk4-01") == 1
    assert value("link_sync_up", printer="xl-02") == 1
    assert value("link_sync_up", printer="mini-03") == 0
    assert value("link_sync_printer_state", printer="xl-02", state="PRINTING") == 1
    assert value("link_sync_printer_state", printer="mk4-01", state="IDLE") == 1
    assert value("link_sync_in_sync", printer="mk4-01") == 1
    assert value("link_sync_pending_files", printer="mk4-01") == 0
    assert value("link_sync_last_sync_success", printer="mk4-01") == 1
    assert value("link_sync_last_sync_success", printer="mini-03") == 0
    assert value("link_sync_last_sync_timestamp_seconds", printer="mk4-01") > 1.7e9
    assert value("link_sync_watching", printer="mk4-01") == 1
    assert value("link_sync_files_uploaded_total", printer="mk4-01") == 2
    assert value("link_sync_files_deleted_total", printer="mk4-01") == 1
    assert value("link_sync_files_uploaded_total", printer="xl-02") == 0
    assert value("link_sync_bytes_sent_total", printer="mk4-01") == 3000 + 4
    assert value("link_sync_failures_total", printer="mini-03", kind="unreachable") == 1
    assert value("link_sync_sync_duration_seconds_count") == 1  # mk4-01's sync
    assert value("link_sync_upload_rate_bytes_per_second_count") == 2
    assert value("link_sync_master_files") == 2
    assert value("link_sync_master_available") == 1
    assert all(name.startswith("link_sync_") for name, _ in got)
    for printer in emulated:
        assert printer.spec.password not in answer.text
