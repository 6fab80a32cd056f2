"""Where a bearer challenge may send regtui: the realm check of the token flow.

The realm comes from the registry (or whatever answers in its place), and the token request
carries the operator's credentials, so it is checked before anything is sent:
- the scheme is kept: an https registry's realm must be https (no downgrade to plain http);
- a private, loopback or link-local address literal (169.254.169.254 included, in any of the
  spellings the resolver accepts) only for a registry that is itself on one of that kind;
- the host is the registry's own, a parent of it (registry.gitlab.com -> gitlab.com), or on
  the registry's own domain (registry-1.docker.io -> auth.docker.io).
`token_realms` in `[registries.auth]` names any other realm host the operator trusts.

"The registry's own domain" is judged conservatively, without the public suffix list (which
does not even list azurecr.io): the last two labels (three under a ccTLD's `co.`/`com.`...),
and no siblings at all under domains whose subdomains belong to different customers.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import httpx

from regtui.config import RegistryConfig, is_loopback
from regtui.errors import AuthError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SHARED_HOSTING_DOMAINS: Final = frozenset({
    "amazonaws.com", "amazonaws.com.cn", "cloudfront.net", "awsapprunner.com",
    "azurecr.io", "azurecr.cn", "azure.com", "azurewebsites.net", "windows.net",
    "cloudapp.net", "appspot.com", "run.app", "web.app", "googleusercontent.com",
    "herokuapp.com", "github.io", "gitlab.io", "netlify.app", "vercel.app", "fly.dev",
    "onrender.com", "ngrok.io", "ngrok.app", "ngrok-free.app", "trycloudflare.com",
    "workers.dev", "pages.dev", "jfrog.io", "ondigitalocean.app", "nip.io", "sslip.io",
    "duckdns.org", "no-ip.org", "ddns.net",
})
"""Domains whose subdomains belong to different customers: a realm on a sibling there is
another tenant's server, so only the registry's own host (or a parent) passes."""

_SECOND_LEVEL: Final = frozenset({
    "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "mil", "ltd", "plc",
    "sch", "nom", "gob", "gv", "int", "biz", "info",
})
"""Second-level labels that ccTLDs sell under (example.co.uk): such a pair is a suffix."""

_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")


@dataclass(frozen=True)
class AllowedRealm:
    """One `token_realms` entry: `host`, `host:port`, or `scheme://host[:port]`."""

    host: str
    port: int | None = None
    scheme: str | None = None
    """Set only when the entry names it; `http` here is what allows a downgrade."""

    @classmethod
    def parse(cls, entry: str) -> AllowedRealm:
        parts = urlsplit(entry if "://" in entry else f"//{entry}")
        return cls(_normal(parts.hostname or ""), parts.port, parts.scheme or None)

    def matches(self, url: httpx.URL) -> bool:
        port_ok = self.port is None or self.port == (url.port or _default_port(url.scheme))
        return self.host == _normal(url.host) and port_ok


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _normal(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def check_realm(registry: RegistryConfig, realm: str) -> httpx.URL:
    """The realm as a URL when a token request may go there; `AuthError` naming the realm
    and the config key that would allow it otherwise."""
    parts = urlsplit(realm)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AuthError(
            f"registry {registry.name} sent a bearer challenge with an unusable realm {realm!r}"
        )
    try:
        url = httpx.URL(realm)
    except httpx.InvalidURL as exc:
        raise AuthError(
            f"registry {registry.name} sent a bearer challenge with an unusable realm {realm!r}"
            f" ({exc})"
        ) from None
    reason = realm_refusal(registry, url)
    if reason is not None:
        raise AuthError(
            f"registry {registry.name}: refused bearer token realm {realm} ({reason}); nothing "
            f"was sent to it. To trust it, add {_suggested_entry(registry, url)!r} to "
            f"token_realms in [registries.auth] of registry {registry.name}"
        )
    return url


def realm_refusal(registry: RegistryConfig, url: httpx.URL) -> str | None:
    """Why credentials may not go to `url` for this registry; None when they may."""
    registry_url = urlsplit(registry.url)
    registry_host, realm_host = _normal(registry_url.hostname or ""), _normal(url.host)
    allowed = [a for a in map(AllowedRealm.parse, registry.auth.token_realms) if a.matches(url)]
    downgrade = registry_url.scheme == "https" and url.scheme != "https"
    if downgrade and not any(a.scheme == "http" for a in allowed):
        return "plain http for an https registry"
    if allowed:
        return None
    kind = address_kind(realm_host)
    if kind is not None and kind != address_kind(registry_host):
        return f"a {kind} address, and the registry is not on one"
    if not same_site(registry_host, realm_host):
        return f"{realm_host} is not the registry's host or on its domain"
    return None


def _suggested_entry(registry: RegistryConfig, url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    if url.scheme == "http" and urlsplit(registry.url).scheme == "https":
        return f"http://{host}:{url.port}" if url.port else f"http://{host}"
    return host


def ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, in any form the resolver would accept (`2852039166`,
    `0xa9.0xfe.0xa9.0xfe`, `::ffff:169.254.169.254`, a zone id); None for a name."""
    host = _normal(host).split("%", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _LEGACY_IPV4.match(host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_kind(host: str) -> str | None:
    """`loopback`, `link-local` or `private` for a non-public address; None for the rest."""
    if is_loopback(host):
        return "loopback"
    address = ip_literal(host)
    if address is None:
        return None
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast or not address.is_global:
        return "private"
    return None


def registrable_domain(host: str) -> str | None:
    """The domain a host's owner holds, conservatively; None under shared hosting."""
    labels = host.split(".")
    size = 3 if len(labels) >= 2 and _is_suffix_pair(labels[-2:]) else 2
    if len(labels) < size:
        return None
    domain = ".".join(labels[-size:])
    return None if domain in SHARED_HOSTING_DOMAINS else domain


def _is_suffix_pair(pair: list[str]) -> bool:
    return len(pair[1]) == 2 and pair[0] in _SECOND_LEVEL


def same_site(registry_host: str, realm_host: str) -> bool:
    """The realm is the registry's host, a parent domain of it, or on its own domain."""
    if realm_host == registry_host or (is_loopback(realm_host) and is_loopback(registry_host)):
        return True
    if ip_literal(realm_host) is not None or ip_literal(registry_host) is not None:
        return False
    if registry_host.endswith("." + realm_host) and "." in realm_host:
        # Whoever holds a parent domain already holds the registry's name.
        return not _is_suffix_pair(realm_host.split("."))
    domain = registrable_domain(registry_host)
    return domain is not None and (realm_host == domain or realm_host.endswith("." + domain))
