"""The URL policy's rules on their own (no network): form, addresses, the allowance."""

from __future__ import annotations

import ipaddress

import pytest

from bot.aimlapi.errors import RefusedUrl
from bot.aimlapi.url_policy import UrlAllowance, UrlPolicy

API = "https://api.aimlapi.com"


def addresses(*texts: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(t) for t in texts]


@pytest.mark.parametrize(
    "url",
    [
        "https://[::ffff:127.0.0.1]/a.wav",  # loopback in IPv6 clothing
        "https://[fe80::1]/a.wav",
        "https://100.64.0.1/a.wav",  # carrier-grade NAT, shared address space
        "https://0.0.0.0/a.wav",
        "https://10.1.2.3/a.wav",
        "https://224.0.0.1/a.wav",
        "javascript:alert(1)",
        "https:///nohost",
    ],
)
def test_refused_before_any_dns(url: str) -> None:
    with pytest.raises(RefusedUrl):
        UrlPolicy(API).check_form(url)


def test_a_public_https_url_passes_and_its_addresses_are_checked() -> None:
    policy = UrlPolicy(API)
    url = policy.check_form("https://cdn.example.com/a.wav?sig=1")
    policy.check_addresses(url, addresses("93.184.216.34", "2606:2800:220:1::1"))
    with pytest.raises(RefusedUrl, match="private or local"):
        policy.check_addresses(url, addresses("93.184.216.34", "192.168.0.2"))
    with pytest.raises(RefusedUrl):
        policy.check_addresses(url, [])


def test_the_apis_own_origin_is_exempt_even_on_plain_http_and_loopback() -> None:
    policy = UrlPolicy("http://127.0.0.1:8080/proxy")
    url = policy.check_form("http://127.0.0.1:8080/cdn/a.wav")
    policy.check_addresses(url, addresses("127.0.0.1"))
    with pytest.raises(RefusedUrl):
        policy.check_form("http://127.0.0.1:8081/cdn/a.wav")  # another port is another origin
    with pytest.raises(RefusedUrl):
        policy.check_form("https://127.0.0.1:8080/cdn/a.wav")  # and another scheme


def test_the_allowance_lets_in_named_hosts_and_networks() -> None:
    allowance = UrlAllowance.parse(["CDN.Internal.", " 10.0.0.0/8", "", "[fd00::1]"])
    assert allowance.hosts == {"cdn.internal"}
    policy = UrlPolicy(API, allowance)
    named = policy.check_form("http://cdn.internal:9000/a.wav")
    policy.check_addresses(named, addresses("127.0.0.1"))  # a named host may resolve anywhere
    internal = policy.check_form("http://media.corp/a.wav")  # http: its addresses decide
    policy.check_addresses(internal, addresses("10.9.8.7"))
    with pytest.raises(RefusedUrl, match="not https"):
        policy.check_addresses(internal, addresses("93.184.216.34"))
    with pytest.raises(ValueError, match="not a host"):
        UrlAllowance.parse(["not a host"])
