"""A running monitor: config -> database -> recorder -> scheduler, and a clean stop.

`monitor run` is this, plus signal handling. Stopping order matters: the scheduler stops taking
new runs first, the runs in flight finish (or hit their deadline), then the recorder writes
every result already taken, then the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import make_url

from monitor.channels.registry import channels_for
from monitor.channels.twilio import TwilioClient
from monitor.clock import Clock
from monitor.config import LoadedConfig, ProbeConfig, load_config
from monitor.config.errors import ConfigError
from monitor.config.loader import config_files
from monitor.detection.detector import Detector
from monitor.detection.maintenance import MaintenanceWindow
from monitor.detection.store import DatabaseIncidents
from monitor.detection.tracker import Confirm
from monitor.escalation.answers import Responder
from monitor.escalation.delivery import DeliveryTracker
from monitor.escalation.engine import Engine, EngineStats
from monitor.escalation.messages import Messages, MessageTemplateError
from monitor.leadership import Leadership
from monitor.masking import mask_phone
from monitor.oncall import on_call
from monitor.probing.flow import RunResult
from monitor.probing.runner import run_with_deadline
from monitor.probing.scheduler import ProbeScheduler, SchedulerStats, run_deadline
from monitor.selfwatch.arrivals import ResultArrivals, Silence
from monitor.selfwatch.checks import Trouble, Vitals
from monitor.selfwatch.emergency import EmergencyPager
from monitor.selfwatch.heartbeat import Heartbeat
from monitor.selfwatch.watch import CHECK_EVERY_SECONDS, SelfWatch
from monitor.settings import TWILIO_API, TwilioSettings
from monitor.storage.confirmations import (
    Asked,
    ask_for_confirmation,
    newest_request_id,
)
from monitor.storage.database import Database, sqlite_path
from monitor.storage.leader import LeaderLock
from monitor.storage.migrations import upgrade_async
from monitor.storage.recorder import Recorder, RecorderStats
from monitor.storage.records import ResultRecord
from monitor.storage.repository import (
    StoredResult,
    newest_result_id,
    replay_results,
    sync_probes,
)
from monitor.storage.retention import apply_retention
from monitor.storage.rollups import HOUR, floor_hour, reroll_hours, roll_up
from monitor.storage.silences import list_silences
from monitor.storage.tail import IdTail, request_tail, result_tail
from monitor.web import WebContext, WebServer, create_app
from monitor.web.metrics import Metrics

log = logging.getLogger(__name__)

# Each stage gets part of the 10 s an orchestrator waits after SIGTERM before it kills.
SCHEDULER_STOP_TIMEOUT = 4.0
RECORDER_STOP_TIMEOUT = 3.0
ENGINE_STOP_TIMEOUT = 1.5
# How often the detector picks up silences set from the command line and retries failed writes.
DETECTOR_TICK_SECONDS = 5.0
# Hours are rolled up a couple of minutes after they end; looking once a minute is plenty.
ROLLUP_EVERY_SECONDS = 60.0


Role = Literal["all", "probe", "engine"]
ROLES: tuple[Role, ...] = ("all", "probe", "engine")
# How often the leader reads the results that all instances wrote (detection's delay on top
# of the recorder's flush interval).
TAIL_EVERY_SECONDS = 0.25
REQUESTS_EVERY_SECONDS = 0.5  # confirmation runs asked by the leader start within this


@dataclass(frozen=True, kw_only=True)
class RuntimeOptions:
    database_url: str
    max_concurrency: int = 100
    summary_every: float = 60.0  # seconds between summary lines; 0 turns them off
    listen: str | None = None  # host:port of the web server (webhooks); None: no web server
    public_url: str | None = None  # how Twilio reaches the web server (MONITOR_PUBLIC_URL)
    twilio: TwilioSettings | None = None  # configured: sms and voice go through Twilio
    admin_token: str | None = None  # MONITOR_ADMIN_TOKEN: the admin pages and the JSON API
    config_path: Path | None = None  # reloaded on SIGHUP or when its files change; None: never
    # all: probes and (while leading) detection and escalation; probe: probes only; engine:
    # detection and escalation only (while leading).
    role: Role = "all"
    location: str = "local"  # runs the probes that list it; results are tagged with it
    watch_config_every: float = 2.0  # seconds between looks at the config files; 0: SIGHUP only
    expect_new_database: bool = False  # the demo's temporary file: no need to say it is new


def config_hash(probe: ProbeConfig) -> str:
    """Changes whenever the probe's definition does (stored with the probe, to tell versions apart)."""
    text = probe.model_dump_json(by_alias=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Runtime:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        options: RuntimeOptions,
        clock: Clock,
        emit: Callable[[str], None],
        on_result: Callable[[RunResult], None] | None = None,
    ) -> None:
        self.loaded = loaded
        self.options = options
        self.clock = clock
        self._emit = emit
        self._on_result = on_result
        self.probes = [probe for probe in loaded.probes if probe.enabled]
        self.database: Database | None = None
        self.recorder: Recorder | None = None
        self.scheduler: ProbeScheduler | None = None
        self.detector: Detector | None = None
        self.engine: Engine | None = None
        self.twilio: TwilioClient | None = None
        self.web: WebServer | None = None
        self._web_app = create_app(None)
        self._engine_task: asyncio.Task[None] | None = None
        self._engine_stop = asyncio.Event()
        self._summary_task: asyncio.Task[None] | None = None
        self._requests_task: asyncio.Task[None] | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._by_name = {probe.name: probe for probe in self.probes}
        self._confirmations: dict[str, int] = {}  # probe -> confirmation runs still to make
        self._confirm_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._window = Counter[str]()  # failures per probe since the last summary
        self._window_runs = 0
        self.unwritten = 0  # results taken but not in the database when stop() returned
        self.metrics = Metrics()
        self._rollup_task: asyncio.Task[None] | None = None
        self.self_watch: SelfWatch | None = None
        self.heartbeat: Heartbeat | None = None
        self._self_stop = asyncio.Event()
        self._self_tasks: list[asyncio.Task[None]] = []
        self._engine_started_at: datetime | None = None
        self.leadership: Leadership | None = None
        self._leader_stop = asyncio.Event()
        self._leader_task: asyncio.Task[None] | None = None
        self._tail_task: asyncio.Task[None] | None = None
        self.arrivals: ResultArrivals | None = None  # while leading
        self._upkeep_now = asyncio.Event()
        self.config_errors: list[str] = []  # the last reload's, while the previous config runs
        self._config_stamp = _stamp_files(self.options.config_path)
        self._watch_task: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()

    async def start(self, *, schedule: bool = True) -> None:
        """Upgrade the database, then start recording and (unless `schedule` is false) probing;
        `begin_schedule()` starts probing later."""
        file = sqlite_path(make_url(self.options.database_url))
        if file is not None and not file.exists() and not self.options.expect_new_database:
            # A wrong path or a lost volume would otherwise start over silently, history gone.
            self._emit(f"database: a new SQLite file at {file.resolve()} (none was there)")
        await upgrade_async(self.options.database_url)
        self.database = Database.connect(self.options.database_url)
        probe_ids = await sync_probes(
            self.database,
            [(p.name, p.component, config_hash(p)) for p in self.loaded.probes],
            now=self.clock.now(),
        )
        if self.probing:
            self.recorder = Recorder(self.database, clock=self.clock, probe_ids=probe_ids)
            await self.recorder.start()
        twilio = self.options.twilio
        if twilio is not None and twilio.configured:
            self.twilio = TwilioClient(twilio)
        if self.options.listen is not None:
            # Before the channels: their callback URLs need the address.
            self.web = WebServer(self._web_app, listen=self.options.listen)
        self.engine = Engine(
            self.database,
            config=lambda: self.loaded.config,
            channels=channels_for(
                self.loaded.config.channels, twilio=self.twilio, public_url=self.public_url
            ),
            clock=self.clock,
            on_call=on_call,
        )
        self.self_watch = SelfWatch(
            self.database,
            config=lambda: self.loaded.config,
            clock=self.clock,
            vitals=self.vitals,
            disk_path=self._disk_path(),
            emergency=EmergencyPager(
                config=lambda: self.loaded.config, channels=self.engine.channels, on_call=on_call
            ),
            wake=self.engine.wake,
            instance=f"{socket.gethostname()}, {self.options.role} at {self.options.location}",
        )
        await self.self_watch.start()
        self.heartbeat = Heartbeat(
            url=lambda: self.loaded.config.watch_self.heartbeat_url,
            every=lambda: self.loaded.config.watch_self.heartbeat_every,
            troubles=self._heartbeat_troubles,
        )
        if self.web is not None:
            self._web_app.state.web = self._web_context(self.engine)
            await self.web.start()
        self._emit(self._paging_line())
        if self.web is not None:
            self._emit(self._web_line())
        if self.probing:
            self.scheduler = ProbeScheduler(
                self._local_probes(),
                execute=self._execute,
                clock=self.clock,
                max_concurrency=self.options.max_concurrency,
            )
        if self.options.role != "all" or self.options.location != "local":
            self._emit(self._role_line())
        unrun = self._probes_run_nowhere()
        if unrun:
            if self.probing:
                does = f"probes from {self.options.location!r}"
                fix = f"add {self.options.location!r} to their `locations`"
            else:
                does, fix = "runs no probes", "run it with `--role all`"
            self._emit(
                f"warning: nothing runs {', '.join(unrun)}: on SQLite this is the only "
                f"instance, and it {does}. To fix: {fix}, or use PostgreSQL with a "
                "`--role probe --location NAME` instance per location"
            )
        if schedule:
            await self.begin_schedule()

    @property
    def probing(self) -> bool:
        return self.options.role in ("all", "probe")

    @property
    def may_lead(self) -> bool:
        return self.options.role in ("all", "engine")

    @property
    def leading(self) -> bool:
        return self.leadership is not None and self.leadership.leading

    def _local_probes(self) -> list[ProbeConfig]:
        return [probe for probe in self.probes if self.options.location in probe.locations]

    def _probes_run_nowhere(self) -> list[str]:
        """On SQLite this is the only instance: a probe not listing its location never runs
        (the leader would page that silence; better said at start)."""
        assert self.database is not None
        if self.database.engine.url.get_backend_name() != "sqlite":
            return []
        here = {probe.name for probe in self._local_probes()} if self.probing else set()
        return [probe.name for probe in self.probes if probe.name not in here]

    def _role_line(self) -> str:
        duties = {
            "all": "probes, and detection and escalation while it holds the leader lock",
            "probe": "probes only",
            "engine": "detection and escalation while it holds the leader lock; no probes",
        }[self.options.role]
        line = f"role: {self.options.role} at location {self.options.location}: {duties}"
        if self.probing and not self._local_probes():
            line += f"\nwarning: no enabled probe lists location {self.options.location!r}"
        return line

    @property
    def public_url(self) -> str | None:
        """MONITOR_PUBLIC_URL, else the web server's own address (right for a monitor and a
        provider on one machine, such as the demo and the sandbox)."""
        if self.options.public_url:
            return self.options.public_url.rstrip("/")
        if self.web is not None:
            return self.web.url
        return None

    def _paging_line(self) -> str:
        webhooks = f"; webhooks at {self.public_url}" if self.web is not None else ""
        if self.twilio is None:
            return (
                f"paging: no SMS/voice provider configured (TWILIO_*): pages print here{webhooks}"
            )
        settings = self.twilio.settings
        sender = settings.messaging_service_sid or mask_phone(settings.from_number or "")
        line = f"paging: SMS and calls through {settings.api_base_url} from {sender}{webhooks}"
        if self.options.public_url is None and settings.api_base_url == TWILIO_API:
            line += (
                "\nwarning: MONITOR_PUBLIC_URL is not set: Twilio cannot fetch what a call says "
                "or report delivery (calls fail over to the next channel)"
            )
        return line

    def _web_line(self) -> str:
        base = self.public_url
        admin = (
            f"admin at {base}/admin, API at {base}/api/v1"
            if self.options.admin_token
            else "admin pages and API off (MONITOR_ADMIN_TOKEN is not set)"
        )
        return f"web: status page at {base}/; {admin}; health at {base}/readyz, {base}/metrics"

    def _web_context(self, engine: Engine) -> WebContext:
        assert self.database is not None
        config = lambda: self.loaded.config  # noqa: E731
        twilio = self.options.twilio
        return WebContext(
            db=self.database,
            clock=self.clock,
            config=config,
            responder=Responder(self.database, config=config, clock=self.clock, wake=engine.wake),
            tracker=DeliveryTracker(self.database, clock=self.clock, config=config, engine=engine),
            messages=engine.messages,
            public_url=self.public_url,
            twilio_tokens=twilio.tokens() if twilio is not None else [],
            admin_token=self.options.admin_token,
            wake=engine.wake,
            state=self,
            metrics=self.metrics,
        )

    # -- what /readyz and /metrics read (web.context.MonitorState) ----------------------------

    def scheduler_running(self) -> bool:
        return self.scheduler is not None and self.scheduler.firing

    def scheduler_stats(self) -> SchedulerStats | None:
        return self.scheduler.stats if self.scheduler is not None else None

    def recorder_stats(self) -> RecorderStats | None:
        return self.recorder.stats if self.recorder is not None else None

    def engine_stats(self) -> EngineStats | None:
        return self.engine.stats if self.engine is not None else None

    def runs_probes(self) -> bool:
        return self.probing

    def leads(self) -> bool:
        return self.leading

    def config_problems(self) -> list[str]:
        return list(self.config_errors)

    def self_troubles(self) -> list[str]:
        return [t.summary for t in self.self_watch.troubles] if self.self_watch is not None else []

    def vitals(self) -> Vitals:
        return Vitals(
            now=self.clock.now(),
            recorder=self.recorder_stats(),
            scheduler=self.scheduler_stats(),
            scheduler_running=self.scheduler_running() if self.scheduler is not None else None,
            engine=self.engine_stats() if self._engine_started_at is not None else None,
            engine_started_at=self._engine_started_at,
            silences=self._silences(),
        )

    def _silences(self) -> list[Silence] | None:
        if self.arrivals is None:
            return None
        return self.arrivals.silences(
            self.probes,
            now=self.clock.now(),
            missed_runs=self.loaded.config.watch_self.missed_runs,
        )

    def _disk_path(self) -> Path | None:
        configured = self.loaded.config.watch_self.disk_path
        if configured:
            return Path(configured)
        assert self.database is not None
        database = sqlite_path(self.database.engine.url)
        return database.resolve().parent if database is not None else None

    def _heartbeat_troubles(self) -> list[Trouble]:
        assert self.self_watch is not None
        checked = self.self_watch.checked_at
        if checked is None or self.clock.now() - checked > timedelta(
            seconds=3 * CHECK_EVERY_SECONDS
        ):
            return [Trouble("engine", "the self checks have not run lately")]
        return self.self_watch.vital_troubles()

    async def begin_schedule(self) -> None:
        assert self.database is not None, "start() first"
        if self.scheduler is not None:
            await self.scheduler.start()
        if self.may_lead:
            self.leadership = Leadership(
                LeaderLock(self.database), lead=self._lead, step_down=self._step_down
            )
            self._leader_task = asyncio.create_task(
                self.leadership.run(stop=self._leader_stop), name="leadership"
            )
        # Every instance rolls again the hours its own recorder wrote late; the leader also
        # rolls up the hours that are over and applies retention.
        self._rollup_task = asyncio.create_task(self._rollups(), name="rollups")
        assert self.self_watch is not None and self.heartbeat is not None
        self._self_tasks = [
            asyncio.create_task(self.self_watch.run(stop=self._self_stop), name="self checks"),
            asyncio.create_task(self.heartbeat.run(stop=self._self_stop), name="heartbeat"),
        ]
        if self.probing:
            self._requests_task = asyncio.create_task(
                self._follow_confirmation_requests(), name="confirmation requests"
            )
        if self.options.summary_every > 0 and self.probing:
            self._summary_task = asyncio.create_task(self._summaries(), name="summaries")
        if self.options.config_path is not None and self.options.watch_config_every > 0:
            self._watch_task = asyncio.create_task(self._watch_config(), name="config watch")

    # -- leading: detection, escalation, rollups ----------------------------------------------

    async def _lead(self) -> None:
        """This instance holds the leader lock: detect from every instance's results (replayed
        first, then followed), escalate, roll up and apply retention."""
        assert self.database is not None and self.engine is not None
        detector = self._detector(self.database)
        # Replay up to the newest result now and follow the table from there: a result written
        # during the replay is then seen once, by the tail, not twice or never.
        newest = await newest_result_id(self.database)
        await detector.rebuild(self._history(self.database, detector, max_id=newest))
        # A reload while the replay ran found no detector to apply itself to.
        detector.apply(self.probes)
        detector.maintenance = tuple(
            MaintenanceWindow.from_config(window) for window in self.loaded.config.maintenance
        )
        self.detector = detector
        self.arrivals = ResultArrivals(since=self.clock.now())
        self._tail = result_tail(self.database, after_id=newest)
        self._tail_task = asyncio.create_task(self._follow_results(), name="results tail")
        self._tick_task = asyncio.create_task(self._ticks(), name="detector ticks")
        self._engine_stop = asyncio.Event()
        self._engine_task = asyncio.create_task(
            self.engine.run(stop=self._engine_stop), name="escalation engine"
        )
        self._engine_started_at = self.clock.now()
        self._upkeep_now.set()  # a new leader catches up on rollups at once, not in a minute
        log.warning("leader: this instance now detects and escalates")
        self._emit(
            f"{_stamp(self.clock.now())} leader: this instance ({self.options.role} at "
            f"{self.options.location}) now detects and escalates"
        )

    async def _step_down(self) -> None:
        """No longer the leader (the lock lost, or stopping): the engine finishes its tick,
        incident writes still queued get a last try; another instance takes over."""
        for task in (self._tail_task, self._tick_task):
            if task is not None:
                task.cancel()
        self._tail_task = self._tick_task = None
        if self.detector is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.detector.flush(), timeout=1.0)
        if self._engine_task is not None:
            # The tick under way finishes (a page being sent is recorded as sent, not left to
            # be sent again after its lease); no new one starts.
            self._engine_stop.set()
            try:
                await asyncio.wait_for(self._engine_task, timeout=ENGINE_STOP_TIMEOUT)
            except TimeoutError:
                log.error("the escalation engine did not stop in %.0f s", ENGINE_STOP_TIMEOUT)
                self._engine_task.cancel()
        self._engine_task = None
        self._engine_started_at = None
        self.detector = None
        self.arrivals = None

    async def _follow_results(self) -> None:
        while True:
            try:
                for result in await self._tail.new_rows():
                    if self.arrivals is not None:
                        self.arrivals.heard(result.probe, result.location, at=self.clock.now())
                    await self._observe(result)
            except Exception:
                log.exception("reading new results for detection failed")
            await asyncio.sleep(TAIL_EVERY_SECONDS)

    async def _observe(self, result: StoredResult) -> None:
        detector = self.detector
        if detector is None:
            return
        try:
            await detector.observe(result)
        except Exception:  # detection trouble must not stop the others' detection
            log.exception("detector failed on a result of %s", result.probe)

    # -- hot reload ------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Load the config again; apply it if valid, else keep the running one and say why.
        Probes are added, removed and rescheduled; unchanged probes keep their detector state;
        incidents in flight keep the policy they snapshotted when they opened."""
        path = self.options.config_path
        if path is None:
            return False
        async with self._reloading:
            self._config_stamp = _stamp_files(path)
            try:
                loaded = await asyncio.to_thread(load_config, path)
            except ConfigError as error:
                return self._reload_refused([str(problem) for problem in error.problems])
            except OSError as error:
                return self._reload_refused([f"{path}: {error.strerror or error}"])
            try:
                messages = Messages(loaded.config.messages)
            except MessageTemplateError as error:
                return self._reload_refused([f"{path}: messages: {error}"])
            try:
                await self._apply(loaded, messages)
            except Exception as error:  # the database away: retried at the next look
                log.exception("applying the reloaded config failed")
                self._config_stamp = ()
                return self._reload_refused(
                    [f"{path}: could not be applied ({type(error).__name__}); trying again"]
                )
        return True

    def _reload_refused(self, problems: list[str]) -> bool:
        self.config_errors = problems
        log.error(
            "config reload refused, the previous config keeps running: %s", "; ".join(problems)
        )
        self._emit(
            f"config reload refused ({len(problems)} error{'s' if len(problems) != 1 else ''}); "
            "the previous config keeps running:\n  " + "\n  ".join(problems)
        )
        return False

    async def _apply(self, loaded: LoadedConfig, messages: Messages) -> None:
        assert self.database is not None
        await sync_probes(
            self.database,
            [(p.name, p.component, config_hash(p)) for p in loaded.probes],
            now=self.clock.now(),
        )
        probes = [probe for probe in loaded.probes if probe.enabled]
        self.loaded = loaded
        self.probes = probes
        self._by_name = {probe.name: probe for probe in probes}
        if self.engine is not None:
            self.engine.messages = messages
        web = getattr(self._web_app.state, "web", None)
        if isinstance(web, WebContext):
            web.messages = messages  # what calls say
        if self.detector is not None:
            self.detector.apply(probes)
            self.detector.maintenance = tuple(
                MaintenanceWindow.from_config(window) for window in loaded.config.maintenance
            )
        added: list[str] = []
        removed: list[str] = []
        changed: list[str] = []
        if self.scheduler is not None:
            added, removed, changed = self.scheduler.apply(self._local_probes())
        self.config_errors = []
        parts = [
            f"{len(names)} {what}" + (f" ({', '.join(names[:5])})" if names else "")
            for names, what in ((added, "added"), (removed, "removed"), (changed, "changed"))
        ]
        self._emit(f"config reloaded: {len(probes)} probes; " + ", ".join(parts))

    async def _watch_config(self) -> None:
        """Reload when a config file changes (a git pull, a ConfigMap update), without a signal."""
        while True:
            await asyncio.sleep(self.options.watch_config_every)
            try:
                if _stamp_files(self.options.config_path) != self._config_stamp:
                    await self.reload()
            except Exception:
                log.exception("reloading the config failed")

    async def run_once(self, probes: Sequence[ProbeConfig] | None = None) -> None:
        assert self.scheduler is not None, "start() first"
        await self.scheduler.run_once(probes)

    async def stop(self) -> None:
        """Stop within about 10 s, writing every result already taken."""
        self._stopping = True  # no new confirmation bursts from here on
        self._self_stop.set()  # stopping is not trouble; a heartbeat now would vouch for nothing
        for task in (
            *self._self_tasks,
            self._summary_task,
            self._watch_task,
            self._rollup_task,
            self._requests_task,
        ):
            if task is not None:
                task.cancel()
        if self.scheduler is not None:
            # Runs in flight, confirmation runs included, finish (their `always_run` cleanup
            # too) or hit the stop timeout; bursts then find the scheduler stopping.
            await self.scheduler.stop(timeout=SCHEDULER_STOP_TIMEOUT)
        for task in list(self._confirm_tasks):
            task.cancel()
        if self._confirm_tasks:
            await asyncio.gather(*self._confirm_tasks, return_exceptions=True)
        if self.recorder is not None:
            await self.recorder.stop(timeout=RECORDER_STOP_TIMEOUT)
            stats = self.recorder.stats
            if stats.pending:
                log.error("stopped with %d results not written to the database", stats.pending)
            self.unwritten = stats.pending + stats.dropped
            self._emit(
                f"stopped: {stats.taken} results taken, {stats.stored} stored, "
                f"{stats.pending} not written"
                + (f", {stats.dropped} dropped" if stats.dropped else "")
            )
        if self._leader_task is not None:
            # Steps down (the engine's tick finishes) and frees the lock for another instance.
            self._leader_stop.set()
            try:
                await asyncio.wait_for(self._leader_task, timeout=ENGINE_STOP_TIMEOUT + 1)
            except TimeoutError:
                log.error("stepping down as leader took too long")
        if self.web is not None:
            await self.web.stop()
        if self.twilio is not None:
            await self.twilio.aclose()
        if self.database is not None:
            await self.database.dispose()

    async def _history(
        self, database: Database, detector: Detector, *, max_id: int | None = None
    ) -> AsyncIterator[StoredResult]:
        """The stored runs each probe's rules need, oldest first per probe: one burn-rate probe
        must not make every probe replay six hours."""
        now = self.clock.now()
        for horizon, names in sorted(detector.horizons().items()):
            async for result in replay_results(
                database, since=now - horizon, probes=names, max_id=max_id
            ):
                yield result

    def _detector(self, database: Database) -> Detector:
        async def load_silences(since: datetime) -> Sequence[Any]:
            return await list_silences(database, at=since)

        return Detector(
            probes=self.probes,
            store=DatabaseIncidents(database),
            clock=self.clock,
            maintenance=[
                MaintenanceWindow.from_config(window) for window in self.loaded.config.maintenance
            ],
            load_silences=load_silences,
            confirm=self._confirm,
            emit=self._detector_says,
        )

    def _detector_says(self, line: str) -> None:
        # The detector speaks when an incident opens, rises or resolves: the engine acts on it
        # now rather than at its next tick.
        self._emit(line)
        if self.engine is not None:
            self.engine.wake()

    async def _execute(
        self, probe: ProbeConfig, due_at: datetime, *, confirmation: bool = False
    ) -> None:
        result = await run_with_deadline(
            probe,
            clock=self.clock,
            deadline=run_deadline(probe),
            env_values=self.loaded.env_values,
            location=self.options.location,
        )
        assert self.recorder is not None
        record = ResultRecord.from_run(result, due_at=due_at, confirmation=confirmation)
        self.recorder.record(record)
        self._window_runs += 1
        self.metrics.observe_run(
            probe.name, ok=result.ok, duration_seconds=result.duration_ms / 1000
        )
        if not result.ok:
            self._window[probe.name] += 1
            what = "FAIL (confirming)" if confirmation else "FAIL"
            self._emit(f"{_stamp(result.started_at)} {what} {probe.name}: {result.summary()}")
        if self._on_result is not None:
            self._on_result(result)

    async def _execute_confirmation(self, probe: ProbeConfig, due_at: datetime) -> None:
        await self._execute(probe, due_at, confirmation=True)

    def _confirm(self, name: str, request: Confirm) -> None:
        """The detector (this instance leads) asks for confirmation runs: made here if this
        instance runs the probe, and asked of the instances of its other locations through the
        database."""
        probe = self._by_name.get(name)
        if self._stopping or probe is None or request.runs <= 0:
            return
        here = {self.options.location} if self.probing else set()
        if set(probe.locations) - here:
            self._in_background(self._ask_elsewhere(name, request), name=f"ask {name}")
        self._confirm_here(name, request)

    def _in_background(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._confirm_tasks.add(task)
        task.add_done_callback(self._confirm_tasks.discard)

    async def _ask_elsewhere(self, name: str, request: Confirm) -> None:
        assert self.database is not None
        try:
            await ask_for_confirmation(
                self.database,
                probe=name,
                runs=request.runs,
                every=request.every,
                at=self.clock.now(),
            )
        except Exception:  # detection goes on with the scheduled runs
            log.warning("could not ask other locations to confirm %s", name, exc_info=True)

    def _confirm_here(self, name: str, request: Confirm) -> None:
        """Confirmation runs from this location: the first at once, then `every` apart; a
        request during a burst extends it to `runs` more at the same pace. Only for a probe
        this instance runs: a run made here for a probe of other locations would be tagged with
        this one, and count as a location the probe does not have."""
        probe = self._by_name.get(name)
        if self._stopping or not self.probing or probe is None:
            return
        if self.options.location not in probe.locations:
            return
        bursting = self._confirmations.get(name, 0) > 0
        self._confirmations[name] = request.runs
        if bursting or request.runs <= 0:
            return
        self._in_background(self._confirmation_runs(name, request), name=f"confirm {name}")

    async def _follow_confirmation_requests(self) -> None:
        """Confirmation runs the leader asked for, made from here (the leader made its own)."""
        assert self.database is not None
        tail: IdTail[Asked] | None = None
        failing = False
        while True:
            try:
                if tail is None:
                    tail = request_tail(
                        self.database, after_id=await newest_request_id(self.database)
                    )
                asked_for = await tail.new_rows()
                # What was asked while this instance could not read (a database outage) is
                # settled by scheduled runs since: decided here, not by comparing clocks.
                if not failing and not self.leading:
                    for asked in asked_for:
                        self._confirm_here(asked.probe, Confirm(asked.runs, asked.every))
                failing = False
            except Exception as error:
                # Twice a second while the database is away: said once; the self checks page.
                if not failing:
                    log.warning("reading confirmation requests failed: %r", error)
                failing = True
            await asyncio.sleep(REQUESTS_EVERY_SECONDS)

    async def _confirmation_runs(self, name: str, request: Confirm) -> None:
        probe = self._by_name.get(name)
        try:
            while probe is not None and self.scheduler is not None and not self._stopping:
                self._confirmations[name] -= 1
                await self.scheduler.run_now(probe, execute=self._execute_confirmation)
                if self._confirmations[name] <= 0:
                    return
                await asyncio.sleep(request.every.total_seconds())
        finally:
            self._confirmations[name] = 0

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(DETECTOR_TICK_SECONDS)
            if self.detector is None:
                return
            try:
                await self.detector.tick()
            except Exception:
                log.exception("detector tick failed")

    async def _rollups(self) -> None:
        """Roll up each hour once it is over (the status page's history reads the rollups), roll
        again hours that got late results, then delete what retention no longer keeps."""
        while True:
            try:
                await self.storage_upkeep()
            except Exception:  # history is read raw meanwhile; the next pass tries again
                log.exception("rolling up or deleting old results failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._upkeep_now.wait(), ROLLUP_EVERY_SECONDS)
            self._upkeep_now.clear()

    async def storage_upkeep(self) -> None:
        assert self.database is not None
        now = self.clock.now()
        retention = self.loaded.config.retention
        rolled = await roll_up(self.database, now=now) if self.leading else 0
        rerolled = 0
        if self.recorder is not None:
            late = self.recorder.take_late_hours()
            try:
                rerolled = await reroll_hours(
                    self.database, late, raw_since=floor_hour(now - retention.raw) + HOUR
                )
            except Exception:
                self.recorder.give_back_late_hours(late)  # rolled again at the next pass
                raise
        if rolled or rerolled:
            log.info("rolled up %d hour(s) of results, %d again (late results)", rolled, rerolled)
        if not self.leading:
            return
        deleted = await apply_retention(
            self.database, now=now, raw=retention.raw, rollups=retention.rollups
        )
        if deleted.results or deleted.hourly or deleted.daily:
            log.info(
                "retention: deleted %d results (in %d batches) older than %s, %d hourly and "
                "%d daily rollups older than %s",
                deleted.results,
                deleted.result_batches,
                retention.raw,
                deleted.hourly,
                deleted.daily,
                retention.rollups,
            )

    async def _summaries(self) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(self.options.summary_every)
            self._emit(self.summary_line(time.monotonic() - started))
            started = time.monotonic()

    def summary_line(self, seconds: float) -> str:
        assert self.scheduler is not None and self.recorder is not None
        failed = sum(self._window.values())
        worst = ", ".join(f"{name} {count}" for name, count in self._window.most_common(3))
        lateness = self.scheduler.stats.lateness_ms
        recorder = self.recorder.stats
        line = (
            f"{_stamp(self.clock.now())} summary: {self._window_runs} runs in {seconds:.0f}s, "
            f"{failed} failed{f' ({worst})' if worst else ''}; "
            f"p99 lateness {lateness.p99():.0f} ms (recent runs); stored {recorder.stored}, "
            f"pending {recorder.pending}"
        )
        scheduler = self.scheduler.stats
        trouble = [
            f"{count} {what}"
            for count, what in (
                (scheduler.skipped_overlap, "skipped (previous run still going)"),
                (scheduler.missed, "missed"),
                (scheduler.deadline_exceeded, "cut at the deadline"),
                (recorder.failed_flushes, "failed database writes"),
                (recorder.dropped, "results DROPPED"),
            )
            if count
        ]
        if trouble:
            line += "; since start: " + ", ".join(trouble)
        self._window.clear()
        self._window_runs = 0
        return line


def _stamp_files(path: Path | None) -> tuple[tuple[str, int, int], ...]:
    """What changes when a config file is edited, added or removed: names, sizes and times."""
    if path is None:
        return ()
    stamps = []
    try:
        for file in config_files(path):
            with contextlib.suppress(OSError):  # removed between the listing and the stat
                stat = file.stat()
                stamps.append((str(file), stat.st_size, stat.st_mtime_ns))
    except OSError:
        return ()
    return tuple(stamps)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def serve(
    runtime: Runtime,
    *,
    once: bool,
    first_pass: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set); with `once`, run every probe once and return.

    With `first_pass`, every probe runs once before the schedule starts and `first_pass` is
    called then (the demo shows those results at once instead of after the first interval).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        task = loop.create_task(runtime.reload(), name="reload on SIGHUP")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        # A signal during start-up or the first pass stops those too, not only the schedule.
        if not await unless_stopped(runtime.start(schedule=False), stop):
            return
        if once or first_pass is not None:
            if not await unless_stopped(runtime.run_once(), stop):
                return
            if first_pass is not None:
                first_pass()
        if not once:
            await runtime.begin_schedule()
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await runtime.stop()


async def unless_stopped(work: Coroutine[Any, Any, Any], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` is set first (then cancel it); True when it completed."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        task.result()  # re-raises what the work raised
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False
