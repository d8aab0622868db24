"""The hub reachability probe: huggingface_hub's offline setting, proxies, one fast attempt.

Every server here listens on 127.0.0.1 and is a few lines of socket code run by the test: a
stand-in "proxy" that records the request line it receives, and a "blackhole" that accepts
connections and never answers. Hosts under ``.invalid`` never resolve (RFC 2606), so a
request that skips the proxy fails without leaving the machine.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from whisperbench.models import loading
from whisperbench.models.registry import get_spec

HUB = "hub.invalid"


class LoopbackServer:
    """Accepts connections on 127.0.0.1; records each first line; answers with ``reply``
    (or never, when ``reply`` is None) and closes."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.lines: list[str] = []
        self.connections = 0
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self._socket.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            if self.reply is None:
                self._held.append(conn)  # the blackhole: keep it open, say nothing
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(data.split(b"\r\n", 1)[0].decode())
                conn.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._socket.close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The hub's endpoint at an unresolvable host, online, no proxy set, and a fresh
    huggingface_hub client (it reads the proxy variables when it is created)."""
    import huggingface_hub
    from huggingface_hub import constants

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    huggingface_hub.close_session()
    yield
    huggingface_hub.close_session()


@pytest.fixture
def proxy() -> Iterator[LoopbackServer]:
    server = LoopbackServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    yield server
    server.close()


@pytest.mark.usefixtures("hub")
def test_the_probe_goes_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, proxy: LoopbackServer
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://{HUB}")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert loading._hub_unreachable(timeout_s=5.0) is None  # the proxy answered for the hub
    assert proxy.lines == [f"HEAD http://{HUB}/ HTTP/1.1"]


@pytest.mark.usefixtures("hub")
def test_an_https_hub_is_reached_by_connect_through_https_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    refusing = LoopbackServer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    try:
        monkeypatch.setattr(constants, "ENDPOINT", f"https://{HUB}")
        monkeypatch.setenv("HTTPS_PROXY", refusing.url)
        reason = loading._hub_unreachable(timeout_s=5.0)
    finally:
        refusing.close()
    assert refusing.lines == [f"CONNECT {HUB}:443 HTTP/1.1"]
    assert reason is not None
    assert reason.startswith(f"https://{HUB} unreachable (")
    assert reason.endswith("set HF_HUB_OFFLINE=1 to skip the hub")


@pytest.mark.usefixtures("hub")
def test_no_proxy_sends_the_probe_around_the_proxy(
    monkeypatch: pytest.MonkeyPatch, proxy: LoopbackServer
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", f"http://{HUB}")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", HUB)
    reason = loading._hub_unreachable(timeout_s=5.0)
    assert proxy.lines == []  # not asked: the request went straight to hub.invalid
    assert reason is not None
    assert reason.startswith(f"http://{HUB} unreachable (")


@pytest.mark.usefixtures("hub")
def test_a_silent_hub_costs_one_attempt_bounded_by_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No retry loop: one connection, given up after the timeout (3 s by default)."""
    from huggingface_hub import constants

    blackhole = LoopbackServer(reply=None)
    try:
        monkeypatch.setattr(constants, "ENDPOINT", blackhole.url)
        started = time.perf_counter()
        reason = loading._hub_unreachable(timeout_s=0.5)
        elapsed = time.perf_counter() - started
    finally:
        blackhole.close()
    assert reason is not None
    assert reason.startswith(f"{blackhole.url} unreachable (")
    assert blackhole.connections == 1
    assert 0.5 <= elapsed < 5.0  # waited for the timeout, and only once


def test_the_hub_is_skipped_by_huggingface_hubs_own_offline_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert loading._hub_offline()
    with pytest.raises(LookupError, match="HF_HUB_OFFLINE is set, so the hub was not asked"):
        loading._from_hub(get_spec("tiny.en"), None)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert not loading._hub_offline()
