"""Where callbacks may go: public addresses only, unless an operator allow-lists a host.

A callback URL comes from a client, and the worker that POSTs to it runs inside the cluster.
Without this check a client could make workers call Redis, the object store, the cloud
metadata service or anything else on the private network. The frontend checks what it can
without DNS when a job is submitted; the worker resolves the host and checks every address
again just before sending, since DNS answers can change in between.
"""

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from msaas.errors import BadCallback

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that always mean this machine, whatever DNS says.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class CallbackPolicy:
    """The allow-list from CALLBACK_ALLOW_HOSTS: host names, addresses and CIDR networks."""

    def __init__(self, allowed: Iterable[str]):
        self.names: set[str] = set()
        self.networks: list[IpNetwork] = []
        for entry in allowed:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.lower().rstrip("."))

    def check_url(self, url: str, resolve: bool) -> None:
        """Raise BadCallback unless `url` is http(s) and may be reached.

        Without `resolve`, only literal addresses and local names are checked (no DNS).
        """
        host = _host_of(url)
        if host in self.names:
            return

        literal = _literal_address(host)
        if literal is not None:
            self._check_address(host, literal)
        elif host in _LOCAL_NAMES or host.endswith(".localhost"):
            raise BadCallback(f"callback host {host!r} is this machine; callbacks must be public")
        elif resolve:
            for address in resolve_host(host, urlsplit(url).port):
                self._check_address(host, address)

    def _check_address(self, host: str, address: IpAddress) -> None:
        if any(address in network for network in self.networks):
            return
        if not is_public(address):
            raise BadCallback(
                f"callback host {host!r} is a private, loopback, link-local or reserved "
                f"address ({address}); callbacks must go to a public address"
            )


def is_public(address: IpAddress) -> bool:
    """Whether `address` is a public unicast address (not private, loopback, metadata...)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


def resolve_host(host: str, port: int | None) -> list[IpAddress]:
    """Every address DNS gives for `host`. Raises BadCallback when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as error:
        raise BadCallback(f"callback host {host!r} does not resolve ({error})") from error
    # A scoped IPv6 address ends in %<interface>; the scope does not change what it is.
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def _host_of(url: str) -> str:
    """The host of an http(s) URL, lower-cased. Raises BadCallback for anything else."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise BadCallback('"callback.url" is not a valid URL') from None
    if parts.scheme not in ("http", "https") or not host:
        raise BadCallback('"callback.url" must be an http or https URL')
    return host.lower().rstrip(".")


def _literal_address(host: str) -> IpAddress | None:
    """The address when `host` is written as one, in any form the resolver would accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton also reads shorthand such as 127.1, 0x7f.0.0.1 or 2130706433.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
