"""The openai backend against a scripted local HTTP server (fast, no model)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from apr_eval.core import ChatMessage, Prompt, PromptStyle, SamplingParams
from apr_eval.errors import BackendError, UsageError
from apr_eval.harness.generation import models
from apr_eval.harness.generation.backends.base import BACKENDS, PartialGenerationError
from apr_eval.harness.generation.backends.openai import OpenAIBackend

# (path, body) -> (status, json reply)
Responder = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


class ScriptedServer:
    def __init__(self, responder: Responder) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.responder = responder
        server = self

        self.auth: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, body))
                server.auth.append(self.headers.get("Authorization"))
                status, reply = server.responder(self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def echo(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    source = body.get("prompt") or body["messages"][-1]["content"]
    text = f"{source}|seed={body['seed']}"
    choice: dict[str, Any] = {"finish_reason": "stop"}
    if path.endswith("/chat/completions"):
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return 200, {"choices": [choice], "usage": {"completion_tokens": 5}}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer(echo)
    yield srv
    srv.close()


def fast(url: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": url, "retry_wait_s": 0.01, "retry_wait_max_s": 0.02, **extra}


COMPLETION = Prompt(PromptStyle.COMPLETION, text="def f():", stop=("\ndef",))
CHAT = Prompt(PromptStyle.CHAT, messages=(ChatMessage("user", "write g"),))


def test_endpoints_samples_and_seeds(server: ScriptedServer) -> None:
    backend = BACKENDS.get("openai").from_options("my-model", fast(server.url, concurrency=3))
    with backend:
        out = backend.generate([COMPLETION, CHAT], SamplingParams(n=2, seed=10, max_tokens=32))
    assert [[o.text for o in outs] for outs in out] == [
        ["def f():|seed=10", "def f():|seed=11"], ["write g|seed=10", "write g|seed=11"]]
    assert out[0][0].tokens == 5 and out[0][0].finish_reason == "stop"
    paths = sorted(path for path, _ in server.requests)
    assert paths == ["/v1/chat/completions"] * 2 + ["/v1/completions"] * 2
    completion_body = next(b for p, b in server.requests if p == "/v1/completions")
    assert completion_body["stop"] == ["\ndef"] and completion_body["model"] == "my-model"
    assert completion_body["max_tokens"] == 32
    chat_body = next(b for p, b in server.requests if p == "/v1/chat/completions")
    assert "stop" not in chat_body and chat_body["messages"][0]["role"] == "user"


def test_retries_429_and_5xx_then_succeeds() -> None:
    failures = [(429, {"error": {"message": "slow down"}}), (503, {"error": "loading"})]

    def flaky(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return failures.pop(0) if failures else echo(path, body)

    srv = ScriptedServer(flaky)
    try:
        with OpenAIBackend.from_options("m", fast(srv.url)) as backend:
            out = backend.generate([COMPLETION], SamplingParams())
    finally:
        srv.close()
    assert out[0][0].text == "def f():|seed=0"
    assert len(srv.requests) == 3


def test_client_error_is_not_retried() -> None:
    srv = ScriptedServer(lambda p, b: (400, {"error": {"message": "max_tokens is too large"}}))
    try:
        with OpenAIBackend.from_options("m", fast(srv.url)) as backend, \
                pytest.raises(BackendError, match="HTTP 400 max_tokens is too large") as err:
            backend.generate([COMPLETION], SamplingParams())
    finally:
        srv.close()
    assert len(srv.requests) == 1
    assert "\n" not in str(err.value)


def test_failure_keeps_finished_prompts() -> None:
    def picky(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if "bad" in body.get("prompt", ""):
            return 404, {"detail": "no such model"}
        return echo(path, body)

    srv = ScriptedServer(picky)
    bad = Prompt(PromptStyle.COMPLETION, text="bad prompt")
    try:
        with OpenAIBackend.from_options("m", fast(srv.url, concurrency=1)) as backend, \
                pytest.raises(PartialGenerationError, match="no such model") as err:
            backend.generate([COMPLETION, bad, COMPLETION], SamplingParams(n=2))
    finally:
        srv.close()
    assert sorted(err.value.done) == [0]
    assert [o.text for o in err.value.done[0]] == ["def f():|seed=0", "def f():|seed=1"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_fails_after_retries() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with OpenAIBackend.from_options("m", fast(url, attempts=3)) as backend, \
            pytest.raises(BackendError, match=r"failed after 3 attempts: cannot reach"):
        backend.generate([COMPLETION], SamplingParams())


def test_api_key_comes_from_a_file(server: ScriptedServer, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("sk-test\n")
    options = fast(server.url, api_key_file=str(key))
    with OpenAIBackend.from_options("m", options) as backend:
        backend.generate([COMPLETION], SamplingParams())
    assert server.auth == ["Bearer sk-test"]
    with pytest.raises(UsageError, match="api_key_file not found"):
        OpenAIBackend.from_options("m", {"api_key_file": str(tmp_path / "none")})
    with pytest.raises(UsageError, match="unknown option 'api_key'"):
        OpenAIBackend.from_options("m", {"api_key": "sk-inline"})  # would land in the manifest


def test_bad_openai_options() -> None:
    with pytest.raises(UsageError, match="base_url must be an http"):
        OpenAIBackend.from_options("m", {"base_url": "localhost:8000"})
    with pytest.raises(UsageError, match="Did you mean 'concurrency'"):
        OpenAIBackend.from_options("m", {"concurency": 2})


def test_chat_template_flag_and_model_info() -> None:
    assert OpenAIBackend.from_options("m", {}).has_chat_template()
    backend = OpenAIBackend.from_options("m", {"chat": "no", "served_model": "served"})
    assert not backend.has_chat_template()
    info = backend.model_info()
    assert info.name == "served" and info.engine == "openai-compatible" and info.sha256 == ""


def test_unknown_backend_suggests_a_name() -> None:
    with pytest.raises(UsageError, match="Did you mean 'openai'"):
        BACKENDS.get("opennai")


# -- a real server: python -m llama_cpp.server with the embedded model ----------------------


class LlamaServer:
    """``python -m llama_cpp.server`` in its own process group, restartable on one port."""

    def __init__(self, model_path: Path, port: int) -> None:
        self.command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path),
                        "--port", str(port), "--n_threads", "1", "--n_ctx", "512"]
        self.url = f"http://127.0.0.1:{port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, "server exited"
            try:
                if requests.get(self.url + "/models", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise AssertionError("llama_cpp.server did not come up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def llama_server() -> Iterator[LlamaServer]:
    pytest.importorskip("llama_cpp.server.app")
    server = LlamaServer(models.resolve_model(models.DEFAULT_MODEL), _free_port())
    server.start()
    yield server
    server.kill()


CODE = Prompt(PromptStyle.COMPLETION, stop=("\ndef ",),
              text='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n')


@pytest.mark.model
def test_real_server_completion_chat_and_metadata(llama_server: LlamaServer) -> None:
    options = {"base_url": llama_server.url, "concurrency": 2}
    with OpenAIBackend.from_options(models.DEFAULT_MODEL, options) as backend:
        out = backend.generate([CODE, CHAT], SamplingParams(max_tokens=16))
        info = backend.model_info()
        chat = backend.has_chat_template()
    # Never the model's words (they depend on the build and the CPU): finish reasons and
    # token counts that agree with each other, and no chat-template tokens leaking out.
    for o in (out[0][0], out[1][0]):
        assert o.text and 0 < o.tokens <= 16 and "<|im_" not in o.text
        assert o.finish_reason == "stop" or (o.finish_reason == "length" and o.tokens == 16)
    assert "\ndef " not in out[0][0].text  # the stop sequence is honoured and cut
    assert info.sha256 == models.EMBEDDED[models.DEFAULT_MODEL].sha256 and chat


@pytest.mark.model
def test_real_server_context_overflow_is_a_client_error(llama_server: LlamaServer) -> None:
    long = Prompt(PromptStyle.COMPLETION, text="x = 1\n" * 600)
    with OpenAIBackend.from_options("m", {"base_url": llama_server.url}) as backend, \
            pytest.raises(BackendError, match="HTTP 400") as err:
        backend.generate([long], SamplingParams(max_tokens=4))
    assert "\n" not in str(err.value)


@pytest.mark.model
def test_real_server_restart_mid_run_is_retried(llama_server: LlamaServer) -> None:
    llama_server.kill()
    options = {"base_url": llama_server.url, "attempts": 60, "retry_wait_s": 0.5,
               "retry_wait_max_s": 2.0}
    results: list[Any] = []
    with OpenAIBackend.from_options("m", options) as backend:
        worker = threading.Thread(target=lambda: results.append(
            backend.generate([CODE], SamplingParams(max_tokens=16))))
        worker.start()
        time.sleep(2.0)
        assert worker.is_alive() and not results  # still retrying against the dead port
        llama_server.start(wait=False)
        worker.join(timeout=180)
    llama_server.wait_ready()
    assert not worker.is_alive()
    retried = results[0][0][0]
    assert retried.text and 0 < retried.tokens <= 16


def test_prefill_asks_the_server_to_continue(server: ScriptedServer) -> None:
    prefill = Prompt(PromptStyle.CHAT, messages=(
        ChatMessage("user", "write g"), ChatMessage("assistant", "```python\n")))
    with OpenAIBackend.from_options("m", fast(server.url)) as backend:
        backend.generate([prefill, CHAT], SamplingParams())
    bodies = {b["messages"][-1]["role"]: b for _, b in server.requests}
    assert bodies["assistant"]["continue_final_message"] is True
    assert bodies["assistant"]["add_generation_prompt"] is False
    assert "continue_final_message" not in bodies["user"]
