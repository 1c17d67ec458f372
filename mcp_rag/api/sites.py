"""Which host names the server answers to, and which sites may change its data.

Every web page the user opens can send requests to 127.0.0.1, so loopback is no
trust boundary. Two rules, checked here for every path (REST, the runbook
aliases, /mcp, the UI, the operations endpoints), tokens or not:

- DNS rebinding: a page at http://evil.example:8000 whose name later resolves to
  127.0.0.1 is "same-origin" with the server and may read and write freely; its
  requests carry `Host: evil.example:8000`. Only names the server is known by
  are answered: loopback names, the bound address, MCP_RAG_ALLOWED_HOSTS (else
  421). An IP literal cannot rebind (the page's origin is the server itself),
  yet only the operations endpoints take one without configuration: kubelet
  probes and metrics scrapers name the pod by its IP.
- Cross-site writes: a form or a no-cors fetch (a multipart POST, say) reaches
  the server without a CORS preflight. A state-changing request that the
  browser marks as coming from another site (Origin, Sec-Fetch-Site) is
  refused (403) unless MCP_RAG_ALLOWED_ORIGINS names that origin.

Clients that are not browsers (curl, MCP clients, the CLI) send neither Origin
nor Sec-Fetch-Site and pass the second rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_rag.api.middleware import send_problem

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Read-only endpoints that probes and scrapers call by the pod's IP address.
OPERATIONS = frozenset({"/health", "/ready", "/metrics", "/version"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def split_authority(authority: str) -> tuple[str, str | None]:
    """`Host`-style authority → (lower-case name without brackets or final dot, port or None)."""
    authority = authority.strip().lower()
    if authority.startswith("["):  # [::1]:8000
        name, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif authority.count(":") == 1:
        name, port = authority.split(":")
    else:
        name, port = authority, None
    return name.rstrip("."), port or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _origin_authority(origin: str) -> str | None:
    """scheme://host[:port] → host[:port] without the scheme's default port; None if not an origin."""
    scheme, sep, authority = origin.strip().lower().partition("://")
    if not sep or not authority or "/" in authority:
        return None
    name, port = split_authority(authority)
    return _authority(name, port if port != _DEFAULT_PORTS.get(scheme) else None)


def _same_origin(origin: str, host: str) -> bool:
    """The page's origin is this server as the browser addressed it. Schemes are not compared:
    TLS usually ends at a proxy in front, and one host and port serve one scheme."""
    name, port = split_authority(host)
    return _origin_authority(origin) == _authority(name, None if port in _DEFAULT_PORTS.values() else port)


def _authority(name: str, port: str | None) -> str:
    shown = f"[{name}]" if ":" in name else name
    return f"{shown}:{port}" if port else shown


class AllowedSites:
    """The host names answered and the origins trusted to write, from settings."""

    def __init__(self, bound_host: str, hosts: Iterable[str], origins: Iterable[str]):
        self.any_host = False
        self.names = set(LOOPBACK_NAMES)  # any port
        self.authorities: set[str] = set()  # name:port entries
        bound, _ = split_authority(bound_host)
        if bound not in WILDCARD_BINDS:
            self.names.add(bound)
        for entry in hosts:
            if entry.strip() == "*":
                self.any_host = True
                continue
            name, port = split_authority(entry)
            if port is None:
                self.names.add(name)
            else:
                self.authorities.add(_authority(name, port))
        self.origins = {o.strip().lower().rstrip("/") for o in origins if o.strip()}

    def host_allowed(self, host: str, path: str, method: str) -> bool:
        if self.any_host:
            return True
        name, port = split_authority(host)
        if port is not None and not port.isdigit():  # never sent by a browser; "localhost:1.evil.example"
            return False
        if name in self.names or _authority(name, port) in self.authorities:
            return True
        return path in OPERATIONS and method in ("GET", "HEAD") and _is_ip(name)

    def write_refusal(self, host: str, origin: str | None, fetch_site: str | None) -> str | None:
        """Why a state-changing request from this page may not proceed, or None when it may."""
        if origin is not None:
            origin = origin.strip().lower().rstrip("/")
            if origin in self.origins or "*" in self.origins:
                return None
            if _same_origin(origin, host):
                return None
            return f"a page from origin {origin} may not change data here; allow it with MCP_RAG_ALLOWED_ORIGINS"
        if fetch_site in ("cross-site", "same-site"):
            return (
                f"a {fetch_site} page may not change data here (Sec-Fetch-Site: {fetch_site}, no Origin); "
                "allow its origin with MCP_RAG_ALLOWED_ORIGINS"
            )
        return None

    def describe(self) -> str:
        named = sorted(self.names - LOOPBACK_NAMES) + sorted(self.authorities)
        return ", ".join(["localhost", "127.0.0.1", "[::1]", *named])


class CheckSite:
    """421 for a Host the server is not known by; 403 for a write from another site."""

    def __init__(self, app: ASGIApp, sites: AllowedSites):
        self.app = app
        self.sites = sites

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        method = scope.get("method", "GET")
        if not self.sites.host_allowed(host, scope.get("path", ""), method):
            detail = (
                f"this server does not answer to the host name {host or '(none)'!r}; it answers to "
                f"{self.sites.describe()}; add the name to MCP_RAG_ALLOWED_HOSTS to allow it"
            )
            return await send_problem(send, 421, "Misdirected request", detail)
        if method in STATE_CHANGING:
            origin = headers.get(b"origin")
            fetch_site = headers.get(b"sec-fetch-site")
            refusal = self.sites.write_refusal(
                host,
                origin.decode("latin-1") if origin is not None else None,
                fetch_site.decode("latin-1").lower() if fetch_site is not None else None,
            )
            if refusal is not None:
                return await send_problem(send, 403, "Cross-site request refused", refusal)
        await self.app(scope, receive, send)
