"""``scorer.service._server.serve``, the library call behind ``scorer serve``: its refusals."""

from __future__ import annotations

import socket

import pytest

from scorer import Settings
from scorer._errors import ConfigError
from scorer.service._server import serve


def test_a_busy_port_is_one_clear_error(fake_settings: Settings) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        told: list[str] = []
        with pytest.raises(ConfigError) as refused:
            serve(fake_settings, port=port, on_listening=told.append)
    assert str(refused.value).startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert told == []


def test_a_public_address_without_a_token_is_refused_before_binding(
    fake_settings: Settings,
) -> None:
    # The port is held: had serve tried to bind first, it would say the port is busy.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ConfigError, match=r"refusing to serve on 0\.0\.0\.0 without auth"):
            serve(fake_settings, host="0.0.0.0", port=port)
