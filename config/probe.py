"""The container's health probe (the Dockerfile's HEALTHCHECK): asks this container's web
server for `/healthz` and exits 0 only on a 200.

    python -m config.probe [CHECKS]      # default: database

It asks as the proxy in front would: for the first of `ALLOWED_HOSTS`, marked as HTTPS
(`SECURE_PROXY_SSL_HEADER`), so neither the host check nor the HTTPS redirect stands between
it and the answer. No Django is loaded: a probe runs every few seconds.
"""

from __future__ import annotations

import http.client
import os
import sys


def probe_host(allowed_hosts: str) -> str:
    """A host name the settings accept: the first entry, a wildcard made concrete."""
    first = (allowed_hosts.split(",")[0].strip() or "localhost").lstrip("*")
    return f"probe{first}" if first.startswith(".") else first or "localhost"


def main(checks: str = "database") -> int:
    connection = http.client.HTTPConnection(
        "127.0.0.1", int(os.environ.get("PORT", "8000")), timeout=4
    )
    try:
        connection.request(
            "GET",
            f"/healthz?check={checks}",
            headers={
                "Host": probe_host(os.environ.get("ALLOWED_HOSTS", "")),
                "X-Forwarded-Proto": "https",
            },
        )
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
    except OSError as error:
        print(f"/healthz did not answer: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"/healthz answered {response.status}: {body}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
