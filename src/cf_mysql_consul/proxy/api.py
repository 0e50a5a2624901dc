"""HTTP: the operator API on ``api_port`` (basic auth) and health on ``health_port`` (no auth).

API (switchboard-compatible shapes, extra fields added, none renamed):
- ``GET /v0/backends`` -> ``[{host, port, healthy, name, currentSessionCount, active, trafficEnabled, ...}]``
- ``GET /v0/cluster`` -> ``{activeBackend, trafficEnabled, message, lastUpdated, ...}``
- ``PATCH /v0/cluster`` (form or JSON): ``trafficEnabled``, ``message``, ``leaseSeconds``,
  ``preferredBackend`` ("" clears it), ``leaseUntilMonotonic`` (a colocated sender's end of the
  lease on this host's CLOCK_MONOTONIC); 400 with ``{"error": ...}`` naming the field, 409 when
  draining or when the request arrived after ``leaseUntilMonotonic``.
- ``POST /v0/drain``: refuse new clients from now on (used by ``bin/drain``); 409 on later enables.
- ``GET /metrics``: Prometheus text. ``GET /``: dashboard.
Health: ``GET /health`` 200 only while serving (traffic on, healthy active backend), else 503;
``GET /live`` 200 while the process runs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from cf_mysql_consul.proxy import dashboard, metrics
from cf_mysql_consul.proxy.controller import Controller
from cf_mysql_consul.proxy.traffic import STALE_LEASE, TrafficError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTROLLER: web.AppKey[Controller] = web.AppKey("controller", Controller)


class BadRequest(ValueError):
    """A PATCH field is invalid; the message names it."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def backends_json(controller: Controller) -> list[dict[str, Any]]:
    """The ``GET /v0/backends`` document."""
    view = controller.view()
    statuses = controller.monitor.statuses if controller.monitor is not None else {}
    result = []
    for health, backend in zip(controller.health_snapshot(), controller.config.backends, strict=True):
        status = statuses.get(backend.name)
        result.append(
            {
                "host": backend.host,
                "port": backend.port,
                "healthy": bool(health.healthy),
                "name": backend.name,
                "currentSessionCount": controller.relay.session_count(backend.name),
                "active": view.active == backend,
                "trafficEnabled": view.traffic.enabled,
                "healthDetail": status.detail if status is not None else "not polled yet",
            }
        )
    return result


def cluster_json(controller: Controller) -> dict[str, Any]:
    """The ``GET /v0/cluster`` document."""
    view = controller.view()
    active = view.active
    return {
        "activeBackend": None
        if active is None
        else {"name": active.name, "host": active.host, "port": active.port},
        "trafficEnabled": view.traffic.enabled,
        "message": view.traffic.message,
        "lastUpdated": _iso(view.last_updated),
        "leaseSecondsRemaining": view.lease_remaining,
        "preferredBackend": view.preferred,
        "draining": view.traffic.draining,
        "serving": view.serving,
        "reason": view.verdict,
        "instance": controller.config.instance_name,
    }


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise BadRequest(f"{name} must be true or false, got {value!r}")


def _positive_seconds(body: dict[str, Any], name: str, what: str) -> float | None:
    """``body[name]`` as a finite number > 0 (None when absent); ``BadRequest`` naming it otherwise."""
    if name not in body:
        return None
    raw = body[name]
    try:
        value = float(raw) if not isinstance(raw, bool) else float("nan")
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < float("inf"):
        raise BadRequest(f"{name} must be {what}, got {raw!r}")
    return value


def parse_patch(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a PATCH /v0/cluster body into ``Controller.request_traffic`` keyword arguments."""
    known = {"trafficEnabled", "message", "leaseSeconds", "leaseUntilMonotonic", "preferredBackend"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    if not body:
        raise BadRequest("nothing to change: give trafficEnabled, message, leaseSeconds or preferredBackend")
    enabled = _parse_bool("trafficEnabled", body["trafficEnabled"]) if "trafficEnabled" in body else None
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise BadRequest(f"message must be a string, got {message!r}")
    lease = _positive_seconds(body, "leaseSeconds", "a number of seconds > 0")
    until = _positive_seconds(body, "leaseUntilMonotonic", "a CLOCK_MONOTONIC time in seconds")
    if until is not None and lease is None:
        raise BadRequest("leaseUntilMonotonic goes with leaseSeconds")
    preferred = body.get("preferredBackend")
    if preferred is not None and not isinstance(preferred, str):
        raise BadRequest(f"preferredBackend must be a backend name like 'mysql/0', got {preferred!r}")
    if message is not None and enabled is None and lease is None and preferred is None:
        raise BadRequest("message alone changes nothing: send it with trafficEnabled")
    return {"enabled": enabled, "message": message, "lease_seconds": lease, "preferred": preferred,
            "lease_until": until}


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


def basic_auth(username: str, password: str) -> Middleware:
    """Middleware requiring HTTP basic auth with ``username``/``password`` on every route."""
    expected = f"{username}:{password}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        given = b""
        if header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:], validate=True)
            except (binascii.Error, ValueError):
                given = b""
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "unauthorized: basic auth with api_username/api_password"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="proxy"'},
            )
        return await handler(request)

    return middleware


async def _get_backends(request: web.Request) -> web.Response:
    return web.json_response(backends_json(request.app[CONTROLLER]))


async def _get_cluster(request: web.Request) -> web.Response:
    return web.json_response(cluster_json(request.app[CONTROLLER]))


async def _patch_cluster(request: web.Request) -> web.Response:
    controller = request.app[CONTROLLER]
    try:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise BadRequest(f"body is not valid JSON: {exc}") from None
            if not isinstance(body, dict):
                raise BadRequest("JSON body must be an object")
        else:
            body = dict(await request.post())
        controller.request_traffic(**parse_patch(body))
    except TrafficError as exc:
        status = 409 if "draining" in str(exc) or STALE_LEASE in str(exc) else 400
        return _error(status, str(exc))
    except ValueError as exc:  # BadRequest and unknown preferredBackend
        return _error(400, str(exc))
    return web.json_response(cluster_json(controller))


async def _post_drain(request: web.Request) -> web.Response:
    controller = request.app[CONTROLLER]
    controller.drain(request.query.get("reason", "draining for shutdown (bin/drain)"))
    return web.json_response(cluster_json(controller))


async def _get_metrics(request: web.Request) -> web.Response:
    return web.Response(
        text=metrics.render(request.app[CONTROLLER]),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def _get_dashboard(request: web.Request) -> web.Response:
    controller = request.app[CONTROLLER]
    page = dashboard.render(cluster_json(controller), backends_json(controller))
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def _get_health(request: web.Request) -> web.Response:
    controller = request.app[CONTROLLER]
    view = controller.view()
    body = {
        "serving": view.serving,
        "activeBackend": view.active.name if view.active else None,
        "trafficEnabled": view.traffic.enabled,
        "message": view.traffic.message,
        "reason": view.verdict,
    }
    return web.json_response(body, status=200 if view.serving else 503)


async def _get_live(request: web.Request) -> web.Response:
    return web.json_response({"live": True})


def api_app(controller: Controller) -> web.Application:
    """The basic-auth API application."""
    app = web.Application(
        middlewares=[basic_auth(controller.config.api_username, controller.config.api_password)]
    )
    app[CONTROLLER] = controller
    app.router.add_get("/v0/backends", _get_backends)
    app.router.add_get("/v0/cluster", _get_cluster)
    app.router.add_patch("/v0/cluster", _patch_cluster)
    app.router.add_post("/v0/drain", _post_drain)
    app.router.add_get("/metrics", _get_metrics)
    app.router.add_get("/", _get_dashboard)
    return app


def health_app(controller: Controller) -> web.Application:
    """The unauthenticated health application (for load balancers and the Consul check)."""
    app = web.Application()
    app[CONTROLLER] = controller
    app.router.add_get("/health", _get_health)
    app.router.add_get("/live", _get_live)
    return app
