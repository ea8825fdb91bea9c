"""``python -m app``: serve torchplay on the configured host and port (127.0.0.1:8000 by default)."""

from __future__ import annotations

import uvicorn

from app.config import Settings
from app.main import create_app
from app.security import ws_max_size


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws_max_size=ws_max_size(settings),
        ws_per_message_deflate=settings.ws_compression,
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        log_level="info",
    )


if __name__ == "__main__":
    main()
