"""One rule for every connection to a host a user typed (``crm_runtime.egress``): the
fetcher and the API's connection check both connect through it."""

import socket

import pytest

from crm_runtime.egress import (
    EgressPolicy,
    ForbiddenAddressError,
    forbidden_in,
    open_connection,
    refused_address,
    vetted,
)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.9", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # the cloud metadata service
        ("100.64.0.1", True),
        ("0.0.0.0", True),  # noqa: S104 - an address to refuse, not to bind
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_accounts_may_not_point_at_private_or_local_addresses(address: str, refused: bool) -> None:
    assert (refused_address(address) is not None) is refused


def test_a_network_the_deployment_trusts_is_allowed_and_nothing_else() -> None:
    assert refused_address("10.1.2.3", ("10.1.2.0/24",)) is None
    assert refused_address("10.1.3.3", ("10.1.2.0/24",)) == "private"
    assert refused_address("127.0.0.2", ("127.0.0.1/32",)) == "loopback"


def _info(address: str) -> tuple[object, ...]:
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 993))


def test_a_host_with_one_private_address_among_public_ones_is_refused() -> None:
    answers = [_info("8.8.8.8"), _info("10.0.0.7")]

    with pytest.raises(ForbiddenAddressError) as refused:
        vetted("imap.example.test", answers, EgressPolicy())

    assert refused.value.address == "10.0.0.7"
    assert "private" in str(refused.value)
    assert vetted("imap.example.test", answers, EgressPolicy(allow_private=True)) == answers


def test_a_connection_to_a_name_that_resolves_to_loopback_is_never_made() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with pytest.raises(ForbiddenAddressError):
            open_connection("localhost", port, 2, EgressPolicy())
        allowed = open_connection("localhost", port, 2, EgressPolicy(allow_private=True))
        allowed.close()
    finally:
        listener.close()


def test_a_refusal_is_found_inside_the_errors_a_client_library_wraps_it_in() -> None:
    refusal = ForbiddenAddressError("dav.example.test", "10.0.0.1", "private")
    wrapped = ConnectionError("Max retries exceeded")
    wrapped.__cause__ = OSError("connect failed", refusal)

    assert forbidden_in(wrapped) is refusal
    assert forbidden_in(OSError("refused")) is None
