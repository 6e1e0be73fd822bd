"""Running an analysis on a worker: the driver (integrations/tradingagents_analysis.py)
in TradingAgents' own python, as a subprocess in a fresh working folder; its JSON lines
become progress on the row and `analysis.updated` events."""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from agents_llm.analyses.install import INSTALL_HELP, tradingagents_python
from agents_llm.analyses.live import analysis_publish
from agents_llm.analyses.models import Analysis, AnalysisStatus, Rating
from agents_llm.metering.sessions import session_token_rotate

logger = logging.getLogger(__name__)

DRIVER = Path(settings.BASE_DIR) / "integrations" / "tradingagents_analysis.py"
# How often the worker looks for a cancel while the driver runs (its heartbeat is
# written every RUN_HEARTBEAT_SECONDS, as a run's).
TICK_SECONDS = 0.5
# What of the workers' environment the driver sees: nothing of ours (no database URL,
# no secret key), but what a TradingAgents user's own process needs for live data.
PASSED_ENV = (
    "PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "http_proxy", "https_proxy",
    "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALPHA_VANTAGE_API_KEY", "FRED_API_KEY",
)


def analysis_execute(*, analysis_id: int) -> Analysis | None:
    """Claim a queued analysis and run it to its end. One someone else claimed, or one
    cancelled meanwhile, is left alone."""
    now = timezone.now()
    claimed = Analysis.objects.filter(pk=analysis_id, status=AnalysisStatus.QUEUED, cancel_requested=False).update(
        status=AnalysisStatus.RUNNING, started_at=now, heartbeat_at=now, finished_at=None, attempts=F("attempts") + 1,
        progress={}, error="",
    )
    analysis = Analysis.objects.select_related("session").filter(pk=analysis_id).first()
    if not claimed or analysis is None:
        return analysis
    analysis_publish(analysis)
    try:
        outcome = _drive(analysis)
    except Exception as exc:  # a bug must not leave it 'running' until the sweep
        logger.exception("analysis %s failed unexpectedly", analysis_id)
        outcome = {"status": AnalysisStatus.FAILED, "error": f"Internal error ({type(exc).__name__}); see the worker log."}
    return _finish(analysis, **outcome)


def _drive(analysis: Analysis) -> dict[str, Any]:
    python = tradingagents_python()
    if python is None:
        return {"status": AnalysisStatus.FAILED, "error": INSTALL_HELP}
    job = {
        "ticker": analysis.ticker, "trade_date": analysis.trade_date.isoformat(),
        "gateway_url": _gateway_url(analysis), "market_data": analysis.market_data,
        # A new session token for each attempt: a driver a dead worker left behind can
        # make no more calls in the session.
        "token": session_token_rotate(session=analysis.session),
        "analysts": analysis.options.get("analysts"), "debate_rounds": analysis.options.get("debate_rounds", 1),
        "risk_rounds": analysis.options.get("risk_rounds", 1),
    }
    # A fresh folder each time: TradingAgents' memory log in a used one would first
    # resolve the earlier analysis' outcome, with market data from the network.
    workdir = Path(tempfile.mkdtemp(prefix=f"analysis-{analysis.pk}-", dir=settings.ANALYSIS_WORK_DIR or None))
    try:
        return _run_driver(analysis, python, job, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _gateway_url(analysis: Analysis) -> str:
    url = (settings.TRADINGAGENTS_GATEWAY_URL or analysis.gateway_url).rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _run_driver(analysis: Analysis, python: str, job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    env.update(HOME=str(workdir), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    log = (workdir / "driver.log").open("w+")
    process = subprocess.Popen(
        [python, str(DRIVER)], cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
        text=True, start_new_session=True,  # its own process group: a cancel kills all of it
    )
    Analysis.objects.filter(pk=analysis.pk).update(pid=process.pid)
    process.stdin.write(json.dumps(job))
    process.stdin.close()
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name=f"analysis-{analysis.pk}-driver", daemon=True).start()
    result: dict[str, Any] | None = None
    stopped: dict[str, Any] | None = None
    deadline = time.monotonic() + settings.ANALYSIS_TIMEOUT_SECONDS
    next_tick = next_beat = 0.0
    try:
        while True:
            try:
                line = lines.get(timeout=TICK_SECONDS)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if line.strip():
                result = _take(analysis, line) or result
            if time.monotonic() >= next_tick and stopped is None:
                next_tick = time.monotonic() + TICK_SECONDS
                beat = time.monotonic() >= next_beat
                if beat:
                    next_beat = time.monotonic() + settings.RUN_HEARTBEAT_SECONDS
                stopped = _tick(analysis, deadline, beat=beat)
                if stopped is not None:
                    _kill(process)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            _kill(process)
        Analysis.objects.filter(pk=analysis.pk).update(pid=None)
    if stopped is not None:
        return stopped
    if result is None:
        log.seek(0)
        tail = log.read()[-1500:]
        return {"status": AnalysisStatus.FAILED,
                "error": f"The TradingAgents driver ended (exit {process.returncode}) without a result:\n{tail}"}
    return _outcome(result)


def _take(analysis: Analysis, line: str) -> dict[str, Any] | None:
    """One line of the driver: progress on the row (and an event), or its result."""
    try:
        message = json.loads(line)
    except ValueError:
        logger.warning("analysis %s: the driver printed %r", analysis.pk, line[:200])
        return None
    if message.get("event") == "result":
        return message
    if message.get("event") == "node" and isinstance(message.get("node"), str):
        analysis.progress = {**analysis.progress, message["node"]: str(message.get("state", ""))[:16]}
        reports = message.get("reports") if isinstance(message.get("reports"), dict) else {}
        analysis.reports = {**analysis.reports, **{k: str(v) for k, v in reports.items()}}
        analysis.heartbeat_at = timezone.now()
        analysis.save(update_fields=["progress", "reports", "heartbeat_at"])
        analysis.session.refresh_from_db(fields=["spent_usd", "spent_tokens"])
        analysis_publish(analysis)
    return None


def _tick(analysis: Analysis, deadline: float, *, beat: bool) -> dict[str, Any] | None:
    """The heartbeat (when `beat`); why to stop the driver now, if it should stop."""
    if beat:
        Analysis.objects.filter(pk=analysis.pk).update(heartbeat_at=timezone.now())
    cancelled, error = Analysis.objects.filter(pk=analysis.pk).values_list("cancel_requested", "error").get()
    if cancelled:
        return {"status": AnalysisStatus.STOPPED, "error": error or "Cancelled."}
    if time.monotonic() > deadline:
        return {"status": AnalysisStatus.FAILED,
                "error": f"It ran longer than ANALYSIS_TIMEOUT_SECONDS ({settings.ANALYSIS_TIMEOUT_SECONDS} s)."}
    return None


def _kill(process: subprocess.Popen) -> None:
    """SIGTERM to the driver's process group, SIGKILL if it is still there after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _outcome(result: dict[str, Any]) -> dict[str, Any]:
    reports = result.get("reports") if isinstance(result.get("reports"), dict) else {}
    if result.get("ok"):
        rating = str(result.get("rating") or "")
        if rating not in Rating.values:
            return {"status": AnalysisStatus.FAILED, "reports": reports,
                    "error": f"TradingAgents answered a rating off its scale: {rating[:100]!r}."}
        return {"status": AnalysisStatus.SUCCEEDED, "rating": rating, "decision": str(result.get("decision") or ""),
                "reports": reports}
    message = str(result.get("message") or "")[:2000]
    if result.get("status") == 402:
        return {"status": AnalysisStatus.STOPPED, "error": f"Stopped by its session's budget: {message}"}
    return {"status": AnalysisStatus.FAILED, "error": f"{result.get('error', 'Error')}: {message}"}


def _finish(analysis: Analysis, *, status: str, error: str = "", rating: str = "", decision: str = "",
            reports: dict[str, str] | None = None) -> Analysis:
    analysis.refresh_from_db()
    analysis.status, analysis.error, analysis.rating, analysis.decision = status, error, rating, decision
    analysis.reports = {**analysis.reports, **(reports or {})}
    analysis.progress = {node: ("failed" if state == "running" else state) for node, state in analysis.progress.items()}
    analysis.finished_at = timezone.now()
    analysis.pid = None
    analysis.save(update_fields=["status", "error", "rating", "decision", "reports", "progress", "finished_at", "pid"])
    analysis_publish(analysis)
    return analysis
