"""The gateway's routing: an endpoint name to one of its model versions, loaded once.

An endpoint splits its traffic between routes by weight (a canary takes a small share);
with `sticky`, a user (the request's `user`, else the caller's key) always lands on the
same route while the split stays the same. When the route's model fails before it answered
(see `fallbacks.fails_over`), the endpoint's fallbacks are tried in order, each loaded the
same way as a route.

A route names a version or an alias. Deployments re-read what an alias points at every
few seconds; when it moved, the new version loads in the background while the old one keeps
answering, then new requests go to the new one and the old one is closed once its last
in-flight request finished (blue/green: nothing is dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from lmops.core.errors import InvalidInput, LmopsError, NotFound
from lmops.registry.entities import ModelVersion
from lmops.registry.store import RegistryStore
from lmops.serving.backends import Backend, ServedModel
from lmops.serving.entities import Endpoint, Route
from lmops.serving.fallbacks import Failure, fails_over, none_answered
from lmops.serving.protocol import OpenAIError, model_not_found
from lmops.serving.routing import AnyRequest, Caller, Target
from lmops.serving.store import EndpointStore

log = logging.getLogger(__name__)

Loader = Callable[[RegistryStore, ModelVersion], Backend]
_MAX_CACHED = 10_000  # endpoint lookups kept (hits and misses)


class Deployment:
    """One loaded version and how many requests it is answering."""

    def __init__(self, version: ModelVersion, backend: Backend) -> None:
        self.version = version
        self.backend = backend
        served = [m for m in backend.models() if m.version == version.uri]
        self.served = served[0] if served else backend.models()[0]
        self.refs: set[tuple[str, str]] = set()  # the (project, uri) pairs routed here
        self._inflight = 0
        self._retired = False
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            self._inflight += 1

    def release(self) -> None:
        with self._lock:
            self._inflight -= 1
            close = self._retired and self._inflight == 0
        if close:
            self._close()

    def retire(self) -> None:
        """No new requests come here; close once the ones in flight are done."""
        with self._lock:
            self._retired = True
            close = self._inflight == 0
        if close:
            self._close()

    @property
    def inflight(self) -> int:
        return self._inflight

    def _close(self) -> None:
        log.info("closing %s", self.version.uri)
        self.backend.close()


@dataclass
class _Follow:
    """What one (project, uri) resolves to and when that was last checked."""

    current: Deployment | None = None
    checked_at: float = float("-inf")
    loading: str | None = None  # the version id being loaded in the background
    error: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class Deployments:
    """Loaded backends by model URI, one per version, following aliases."""

    def __init__(self, registry: RegistryStore, load: Loader, *, recheck_s: float = 2.0) -> None:
        self._registry = registry
        self._load = load
        self._recheck = recheck_s
        self._follows: dict[tuple[str, str], _Follow] = {}
        self._versions: dict[str, Deployment] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def loaded(self) -> list[Deployment]:
        return list(self._versions.values())

    async def acquire(self, project: str, uri: str) -> Deployment:
        """The deployment answering `uri` now (loading it on first use); call `release`."""
        key = (project, uri)
        follow = self._follows.setdefault(key, _Follow())
        now = time.monotonic()
        if now - follow.checked_at >= self._recheck:
            follow.checked_at = now
            version = await self._resolve(project, uri)
            current = follow.current
            if current is None or current.version.id != version.id:
                if version.id in self._versions:
                    self._switch(key, follow, self._versions[version.id])
                elif follow.loading != version.id:
                    follow.loading = version.id
                    task = asyncio.create_task(self._bring_up(key, follow, version))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        if follow.current is None:
            await follow.ready.wait()
        if follow.current is None:
            follow.ready = asyncio.Event()
            follow.checked_at = float("-inf")  # try loading again at the next request
            raise OpenAIError(
                503,
                f"{uri} could not be loaded: {follow.error}",
                type="server_error",
                retry_after=5,
            )
        deployment = follow.current
        deployment.acquire()
        return deployment

    async def _resolve(self, project: str, uri: str) -> ModelVersion:
        try:
            return await asyncio.to_thread(self._registry.in_project(project).get_version, uri)
        except LmopsError as exc:
            raise OpenAIError(
                503,
                f"this endpoint routes to {uri}, which cannot be resolved: {exc.message}",
                type="server_error",
                retry_after=5,
            ) from exc

    async def _bring_up(self, key: tuple[str, str], follow: _Follow, version: ModelVersion) -> None:
        store = self._registry.in_project(key[0])
        try:
            backend = await asyncio.to_thread(self._load, store, version)
        except Exception as exc:
            log.exception("loading %s failed", version.uri)
            follow.error = f"{type(exc).__name__}: {exc}"
        else:
            deployment = self._versions.setdefault(version.id, Deployment(version, backend))
            if deployment.backend is not backend:
                backend.close()  # another route loaded the same version meanwhile
            if follow.loading == version.id or follow.current is None:
                self._switch(key, follow, deployment)
            elif not deployment.refs:  # the alias moved on while this one loaded
                self._versions.pop(version.id, None)
                deployment.retire()
        finally:
            if follow.loading == version.id:
                follow.loading = None
            follow.ready.set()

    def _switch(self, key: tuple[str, str], follow: _Follow, deployment: Deployment) -> None:
        old = follow.current
        deployment.refs.add(key)
        follow.current = deployment
        follow.ready.set()  # requests that came while it was resolved may go on
        if old is not None and old is not deployment:
            log.info("%s moved from %s to %s", key[1], old.version.uri, deployment.version.uri)
            old.refs.discard(key)
            if not old.refs:
                self._versions.pop(old.version.id, None)
                old.retire()

    def prune(self, project: str, keep: set[str]) -> None:
        """Stop following the URIs of `project` outside `keep` (no endpoint routes or falls
        back to them any more); a version none needs is closed once its last request finished."""
        for key in [k for k in self._follows if k[0] == project and k[1] not in keep]:
            follow = self._follows.pop(key)
            deployment = follow.current
            if deployment is not None:
                deployment.refs.discard(key)
                if not deployment.refs:
                    self._versions.pop(deployment.version.id, None)
                    deployment.retire()

    def close(self) -> None:
        for deployment in self._versions.values():
            deployment.backend.close()
        self._versions.clear()
        self._follows.clear()


class GatewayRouter:
    """Routes by endpoint name, in the caller's project."""

    def __init__(
        self, endpoints: EndpointStore, deployments: Deployments, *, ttl_s: float = 1.0
    ) -> None:
        self._endpoints = endpoints
        self.deployments = deployments
        self._ttl = ttl_s
        self._cache: dict[tuple[str, str], tuple[float, Endpoint | None]] = {}

    async def route(self, request: AnyRequest, caller: Caller) -> Target:
        endpoint = self._endpoint(caller.project, request.model)
        if endpoint is None:
            raise model_not_found(request.model)
        route = choose(endpoint, request.user or caller.key_id or caller.user)
        return await self._reach(caller.project, endpoint, [route.model, *endpoint.fallbacks])

    async def _reach(
        self,
        project: str,
        endpoint: Endpoint,
        models: Sequence[str],
        tried: tuple[Failure, ...] = (),
    ) -> Target:
        """A target for the first of `models` that loads, falling back on the ones after it;
        raises what the caller gets when none loads."""
        for at, uri in enumerate(models):
            try:
                deployment = await self.deployments.acquire(project, uri)
            except OpenAIError as exc:
                if not fails_over(exc):
                    raise
                tried = (*tried, Failure(uri, exc))
                continue
            rest = models[at + 1 :]
            fallback = partial(self._fall_back, project, endpoint, rest, tried) if rest else None
            return Target(
                deployment.backend,
                deployment.served,
                endpoint.name,
                endpoint=endpoint.name,
                cache=endpoint.cache,
                release=deployment.release,
                tried=tried,
                fallback=fallback,
            )
        raise none_answered(tried)

    async def _fall_back(
        self,
        project: str,
        endpoint: Endpoint,
        models: Sequence[str],
        tried: tuple[Failure, ...],
        failure: Failure,
    ) -> Target:
        return await self._reach(project, endpoint, models, (*tried, failure))

    def models(self, caller: Caller) -> list[ServedModel]:
        return [
            ServedModel(e.name, owned_by=caller.project, created=int(e.created_at.timestamp()))
            for e in self._endpoints.in_project(caller.project).list()
        ]

    def forget(self, project: str, name: str) -> None:
        """Re-read the endpoint at its next request (it was just changed), and unload the
        versions the project's endpoints no longer route or fall back to."""
        self._cache.pop((project, name), None)
        used: set[str] = set()
        for endpoint in self._endpoints.in_project(project).list():
            used.update(r.model for r in endpoint.routes)
            used.update(endpoint.fallbacks)
        self.deployments.prune(project, used)

    def close(self) -> None:
        self.deployments.close()

    def _endpoint(self, project: str, name: str) -> Endpoint | None:
        now = time.monotonic()
        cached = self._cache.get((project, name))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        endpoint: Endpoint | None = None
        with contextlib.suppress(NotFound, InvalidInput):  # no such name, or not a valid one
            endpoint = self._endpoints.in_project(project).get(name)
        if len(self._cache) >= _MAX_CACHED:  # callers choose the names: keep it bounded
            self._cache.clear()
        self._cache[(project, name)] = (now, endpoint)
        return endpoint


def choose(endpoint: Endpoint, sticky_id: str | None) -> Route:
    """The route a request takes: by weight, and the same one for the same user if sticky."""
    routes = [r for r in endpoint.routes if r.weight > 0]
    total = sum(r.weight for r in routes)
    if endpoint.sticky and sticky_id:
        digest = hashlib.sha256(f"{endpoint.name}\x00{sticky_id}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") % total
    else:
        point = random.randrange(total)
    for route in routes:
        if point < route.weight:
            return route
        point -= route.weight
    return routes[-1]
