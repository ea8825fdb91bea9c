"""The FastAPI app factory: ``uvicorn app.main:create_app --factory``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app import pages, ws
from app.config import Settings
from app.labs import LABS, ROUTERS, by_name
from app.labs.base import Lab, describe_lab
from app.security import Guard, align_uvicorn_config, install_log_redaction
from app.sessions import SessionManager
from app.uploads import MULTIPART_OVERHEAD, BodyLimit
from app.workers import limit_threads
from ml_core.device import describe, pick_device

log = logging.getLogger("torchplay")


def create_app(settings: Settings | None = None, extra_labs: tuple[type[Lab], ...] = ()) -> FastAPI:
    """Build the app. ``extra_labs`` adds labs beyond app.labs.LABS (tests use it)."""
    settings = settings or Settings()
    align_uvicorn_config(settings)
    install_log_redaction()
    labs = by_name(LABS + tuple(extra_labs))
    device = pick_device(settings.device)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        limit_threads(settings.torch_threads)
        manager = SessionManager(settings, labs, device)
        manager.start()
        app.state.sessions = manager
        app.state.loop = asyncio.get_running_loop()  # for tests that look inside the server
        reaper = asyncio.create_task(manager.reap_forever())
        log.info("torchplay on %s with labs %s", describe(device), ", ".join(sorted(labs)))
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            manager.close_all()
            manager.stop()

    # No /docs or /redoc: their viewers load scripts from a CDN. The description stays at
    # /openapi.json.
    app = FastAPI(
        title="torchplay", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.labs = labs
    app.state.device = device
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    app.add_middleware(Guard, settings=settings)  # added last: runs first
    app.mount("/static", StaticFiles(directory=pages.ROOT / "static"), name="static")

    @app.get("/api/health")
    async def health(request: Request, response: Response) -> dict:
        """``ok`` once every worker runs (503 ``starting`` before: readiness probes wait)."""
        manager = request.app.state.sessions
        ready = all(link.ready.is_set() for link in manager.links)
        if not ready:
            response.status_code = 503
        return {
            "status": "ok" if ready else "starting",
            "device": describe(device),
            "labs": sorted(labs),
            "sessions": len(manager.sessions),
            "workers": len(manager.links),
            "restarts": manager.restarts,
        }

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(pages.ROOT / "static" / "favicon.svg", media_type="image/svg+xml")

    @app.get("/api/labs")
    async def lab_list() -> list[dict]:
        """Every lab: its name (the ``lab`` of /ws), title and what it teaches."""
        return [{"name": c.name, "title": c.title, "summary": c.summary} for c in labs.values()]

    @app.get("/api/labs/{lab}")
    async def lab_info(lab: str) -> dict:
        """One lab's limits, default config, config schema and client message types."""
        lab_cls = labs.get(lab)
        if lab_cls is None:
            raise HTTPException(404, f"no lab {lab[:64]!r}; labs: {', '.join(labs)}")
        return describe_lab(lab_cls, settings)

    for router in ROUTERS:
        app.include_router(router, prefix="/api")
    app.include_router(ws.router)
    app.include_router(pages.router)
    return app
