"""Where the bot may fetch audio from: the provider's URL is outside input.

A completed job names its audio by URL, and the bot fetches it from inside the deployment's
network. So a URL is fetched only when:

* its scheme is http(s) and it carries no user name or password (nor a secret of the bot);
* it is on the API's own origin (scheme, host and port of AIMLAPI_BASE_URL: a proxy
  deployment's API may be plain http on a private address), or else
* every address its host resolves to is public (not private, loopback, link-local, shared,
  multicast or reserved) and the scheme is https.

`AUDIO_URL_ALLOW` widens this for proxies: a host name there may be fetched over http and
resolve anywhere; an address inside a network (CIDR) there is acceptable, over http too.

The addresses are checked where the connection is made: a download connects through
`GuardedResolver`, so the address it dials is the address that was checked (a second DNS
answer cannot differ from the first). Redirects are followed one hop at a time by the client,
each hop checked like the first.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.aimlapi.errors import DownloadError, RefusedUrl
from bot.redaction import contains_secret

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class UrlAllowance:
    """What AUDIO_URL_ALLOW adds: host names (any address, http too) and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Collection[str]) -> UrlAllowance:
        """From entries such as "cdn.internal", "10.0.0.0/8", "192.168.1.20"; ValueError names
        the first entry that is neither a network nor a host name."""
        hosts: set[str] = set()
        networks: list[IpNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _is_host_name(entry):
                raise ValueError(raw)
            hosts.add(entry)
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, address: IpAddress) -> bool:
        return any(address in network for network in self.networks)


class UrlPolicy:
    def __init__(self, api_base_url: str, allowance: UrlAllowance = UrlAllowance()) -> None:
        self._api_origin = _origin(URL(api_base_url))
        self._allowance = allowance

    def check_form(self, url: str | URL) -> URL:
        """The parsed URL when its form (and its address, when it is one) is acceptable, before
        any DNS; else `RefusedUrl`."""
        try:
            parsed = url if isinstance(url, URL) else URL(url)
        except (ValueError, TypeError) as exc:
            raise RefusedUrl("the audio URL cannot be parsed") from exc
        where = _shown(parsed)
        if parsed.scheme not in ("http", "https"):
            raise RefusedUrl(f"audio URL scheme {parsed.scheme or 'missing'!r} is not fetched")
        if parsed.user is not None or parsed.password is not None:
            raise RefusedUrl(f"audio URL {where} carries credentials")
        if not parsed.host:
            raise RefusedUrl(f"audio URL {where} names no host")
        if contains_secret(str(parsed)):
            raise RefusedUrl(f"audio URL {where} carries a secret of the bot")
        if self.exempt(parsed):
            return parsed
        literal = _ip(parsed.raw_host or "")
        if literal is not None:
            self.check_addresses(parsed, [literal])
        elif parsed.scheme != "https" and not self._allowance.networks:
            raise RefusedUrl(f"audio URL {where} is not https")
        return parsed

    def exempt(self, url: URL) -> bool:
        """The API's own origin, or a host AUDIO_URL_ALLOW names: no address rule applies."""
        host = (url.host or "").lower().rstrip(".")
        return _origin(url) == self._api_origin or host in self._allowance.hosts

    def check_addresses(self, url: URL, addresses: Collection[IpAddress]) -> None:
        """Every address `url`'s host has must be acceptable for its scheme (none: refused)."""
        if self.exempt(url):
            return
        if not addresses:
            raise RefusedUrl(f"audio URL {_shown(url)} leads to no address")
        for address in addresses:
            if self._allowance.allows_address(address):
                continue
            if not address.is_global or address.is_multicast:
                raise RefusedUrl(
                    f"audio URL {_shown(url)} leads to {address}, a private or local address"
                )
            if url.scheme != "https":
                raise RefusedUrl(f"audio URL {_shown(url)} is not https")

    async def check(self, url: str | URL, resolver: AbstractResolver) -> URL:
        """`check_form`, then every address `resolver` gives; `RefusedUrl`, or `DownloadError`
        ("network") when the name does not resolve."""
        parsed = self.check_form(url)
        host = parsed.raw_host or ""
        if self.exempt(parsed) or _ip(host) is not None:
            return parsed
        try:
            found = await resolver.resolve(host, parsed.port or 443, socket.AF_UNSPEC)
        except OSError as exc:
            raise DownloadError(
                f"audio host {host} does not resolve: {exc}", reason="network"
            ) from exc
        self.check_addresses(parsed, _addresses(found))
        return parsed


class GuardedResolver(AbstractResolver):
    """The DNS of a download's own connector: answers only with addresses the policy accepts
    for `target` (the URL being fetched), so the connection goes where the check looked."""

    def __init__(self, policy: UrlPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner
        self.target: URL | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self.target is None:
            raise RefusedUrl(f"no audio URL is being fetched from {host}")
        self._policy.check_addresses(self.target, _addresses(found))
        return found

    async def close(self) -> None:
        await self._inner.close()


def _addresses(found: list[ResolveResult]) -> list[IpAddress]:
    return [a for a in (_ip(str(r["host"])) for r in found) if a is not None]


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme, (url.host or "").lower().rstrip("."), url.port)


def _ip(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_host_name(text: str) -> bool:
    labels = text.split(".")
    return all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(c.isascii() and (c.isalnum() or c == "-") for c in label)
        for label in labels
    )


def _shown(url: URL) -> str:
    """The URL for messages: no credentials, query or fragment (signed links carry tokens)."""
    try:
        return str(url.with_user(None).with_query(None).with_fragment(None))
    except ValueError:
        return "<invalid URL>"
