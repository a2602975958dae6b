"""The agent's side of the conversation with the control plane, over HTTP.

Registration trades the join token for a per-instance credential, kept in a state file (0600) so
a restarted agent comes back as the same container instance. Every call retries through a
control plane that is restarting; a credential the server no longer knows triggers a fresh
registration. `aws` is the one call not made with the instance credential: a task's execution
role session, SigV4-signed (botocore), to the control plane's own AWS endpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

log = structlog.get_logger("agent.session")


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every session of the process: loading the CA store costs
    milliseconds, which a thousand simulated agents in one process would pay a thousand times."""
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


PIN_SEPARATOR = "@sha256:"


def _fingerprint(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class SessionClosed(Exception):
    """The agent is shutting down."""


@dataclass
class Registration:
    zone: str
    cpu: int
    memory: int
    cluster: str = "default"
    name: str = ""
    instance_type: str = "local.custom"
    attributes: dict[str, str] = field(default_factory=dict)
    agent_version: str = "0.1.0"
    docker_version: str | None = None
    # The address this instance's task ports are published on (None: every address, 0.0.0.0).
    host_address: str | None = None
    # The GPU ids this instance offers (agent.gpus): registered as its GPU resource.
    gpus: list[str] = field(default_factory=list)
    # Join the managed Fargate pool instead of a cluster (orchestrator dev --fargate N).
    fargate: bool = False


class Session:
    def __init__(
        self,
        server: str,
        join_token: str,
        registration: Registration,
        state_file: Path,
        stop: threading.Event | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        # A join token from a control plane with its own CA ends in `@sha256:<fingerprint>`.
        self.join_token, _, pin = join_token.partition(PIN_SEPARATOR)
        self._pin = pin.lower() or None
        self.registration = registration
        self.state_file = state_file
        self.stop = stop or threading.Event()
        self.instance_arn = ""
        self._credential = ""
        pinned = self._pinned_ca() if self._pin is not None else _tls_context()
        # With a pin, nothing is sent before the CA is checked (fetched on the first call if need be).
        self._ca_checked = pinned is not False
        self._http = self._client(pinned if pinned is not False else _tls_context())

    def _client(self, verify: Any) -> httpx.Client:
        return httpx.Client(base_url=self.server, timeout=httpx.Timeout(30.0, connect=5.0), verify=verify)

    @property
    def _ca_file(self) -> Path:
        return self.state_file.with_name("ca.pem")

    def _pinned_ca(self) -> Any:
        """An SSL context trusting only the CA the join token names: the CA fetched once (before
        any token is sent) and kept next to the state file if its SHA-256 matches the pin."""
        try:
            pem = self._ca_file.read_text()
        except OSError:
            return False  # fetched (and checked) on the first call
        if _fingerprint(pem) != self._pin:
            return False
        return ssl.create_default_context(cadata=pem)

    def _fetch_ca(self) -> None:
        with httpx.Client(base_url=self.server, verify=False, timeout=10.0) as bare:
            pem = bare.get("/v1/agent/ca").text
        try:
            found = _fingerprint(pem)
        except ValueError:
            found = "(no certificate)"
        if found != self._pin:
            raise AgentRequestError(
                "CAFingerprintMismatch",
                f"the control plane's CA has the fingerprint {found}, not {self._pin} as the join token says: "
                "refusing to talk to it (a wrong --server, or someone in between)",
            )
        self._ca_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._ca_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        self._http.close()
        self._http = self._client(ssl.create_default_context(cadata=pem))
        self._ca_checked = True

    @property
    def instance_id(self) -> str:
        return self.instance_arn.rsplit("/", 1)[-1]

    def close(self) -> None:
        self._http.close()

    # -- registration ------------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"containerInstanceArn": self.instance_arn, "credential": self._credential}, f)
        os.replace(tmp, self.state_file)

    def register(self) -> str:
        previous = self._load_state()
        r = self.registration
        body = {
            "joinToken": self.join_token,
            "cluster": r.cluster,
            "name": r.name,
            "zone": r.zone,
            "cpu": r.cpu,
            "memory": r.memory,
            "instanceType": r.instance_type,
            "attributes": r.attributes,
            "agentVersion": r.agent_version,
            "dockerVersion": r.docker_version,
            "hostAddress": r.host_address,
            "gpus": r.gpus or None,
            "fargate": r.fargate or None,
            "containerInstanceArn": previous.get("containerInstanceArn"),
            "credential": previous.get("credential"),
        }
        resp = self._call("POST", "/v1/agent/register", json=body, authenticated=False)
        self.instance_arn = resp["containerInstanceArn"]
        self._credential = resp["credential"]
        self._save_state()
        log.info(
            "registered",
            instance=self.instance_id,
            zone=r.zone,
            cluster=r.cluster,
            resumed=previous.get("containerInstanceArn") == self.instance_arn,
        )
        return self.instance_arn

    # -- calls -------------------------------------------------------------------------------

    def assignments(self, since: int, wait_s: float) -> dict[str, Any]:
        return self._call("GET", "/v1/agent/assignments", params={"since": since, "wait": wait_s}, timeout=wait_s + 10)

    def report(self, reports: list[dict[str, Any]]) -> None:
        if reports:
            self._call("POST", "/v1/agent/task-states", json={"tasks": reports})

    def logs(self, streams: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Ship one batch; the answer names the streams the control plane refused (`refused`)."""
        if streams:
            return self._call("POST", "/v1/agent/logs", json={"streams": streams})
        return None

    def task_secrets(self, task_arn: str) -> dict[str, Any]:
        """A starting task's secret environment and registry credentials (never logged)."""
        return self._call("POST", "/v1/agent/task-secrets", json={"taskArn": task_arn})

    def task_credentials(self, task_arn: str) -> dict[str, Any]:
        """A fresh key pair of the task's role, for its containers' credentials endpoint (never logged)."""
        return self._call("POST", "/v1/agent/task-credentials", json={"taskArn": task_arn})

    def execution_credentials(self, task_arn: str) -> dict[str, Any]:
        """A fresh session of the task's execution role and its parsed secret references (never logged)."""
        return self._call("POST", "/v1/agent/execution-credentials", json={"taskArn": task_arn})

    def aws(
        self, service: str, target: str, body: dict[str, Any], session: Mapping[str, Any], region: str
    ) -> tuple[int, dict[str, Any]]:
        """One AWS JSON 1.1 call to the control plane's own AWS endpoint (`POST /` of the same server,
        over the same pinned TLS), SigV4-signed with a role session instead of the instance credential.
        (status, JSON body); a control plane that is away is waited for as `_call` does."""
        # Imported here: only a task with an execution role pays botocore's import, not every agent's start.
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        credentials = Credentials(
            str(session["accessKeyId"]), str(session["secretAccessKey"]), str(session["sessionToken"])
        )
        data = json.dumps(body).encode()
        delay = 0.2
        while True:
            if self.stop.is_set():
                raise SessionClosed()
            request = AWSRequest(
                method="POST",
                url=self.server + "/",
                data=data,
                headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target},
            )
            SigV4Auth(credentials, service, region).add_auth(request)
            try:
                if not self._ca_checked:
                    self._fetch_ca()
                resp = self._http.post("/", content=data, headers=dict(request.headers.items()))
            except httpx.HTTPError as err:
                if self.stop.is_set():
                    raise SessionClosed() from None
                log.warning("control plane unreachable; retrying", error=type(err).__name__, retry_in_s=delay)
            else:
                if resp.status_code < 500:
                    try:
                        got = resp.json()
                    except ValueError:
                        got = {"message": resp.text[:200]}
                    return resp.status_code, got if isinstance(got, dict) else {}
                log.warning("control plane error; retrying", status=resp.status_code)
            if self.stop.wait(delay):
                raise SessionClosed()
            delay = min(delay * 2, 5.0)

    def exec_sessions(self, wait_s: float) -> list[dict[str, Any]]:
        got = self._call("GET", "/v1/agent/exec", params={"wait": wait_s}, timeout=wait_s + 10)
        return list(got.get("sessions") or [])

    def exec_output(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/v1/agent/exec/{session_id}/output", json=body)

    def exec_input(self, session_id: str, wait_s: float) -> dict[str, Any]:
        return self._call("GET", f"/v1/agent/exec/{session_id}/input", params={"wait": wait_s}, timeout=wait_s + 10)

    def metrics(self, samples: list[dict[str, Any]]) -> None:
        if samples:
            self._call("POST", "/v1/agent/metrics", json={"samples": samples})

    def _call(
        self, method: str, path: str, *, authenticated: bool = True, timeout: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        delay = 0.2
        while True:
            if self.stop.is_set():
                raise SessionClosed()
            headers = {"authorization": f"Bearer {self._credential}"} if authenticated else {}
            try:
                if not self._ca_checked:
                    self._fetch_ca()
                resp = self._http.request(method, path, headers=headers, timeout=timeout or 30.0, **kwargs)
            except Exception as err:
                if self.stop.is_set():
                    raise SessionClosed() from None
                if not isinstance(err, httpx.HTTPError):
                    raise
                log.warning("control plane unreachable; retrying", error=type(err).__name__, retry_in_s=delay)
            else:
                if resp.status_code == 401 and authenticated:
                    log.warning("credential refused; registering again")
                    self.register()
                    continue
                if resp.status_code == 429:
                    log.warning("throttled by the control plane; retrying", retry_in_s=delay)
                elif resp.status_code >= 400:
                    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
                    if resp.status_code < 500:
                        raise AgentRequestError(body.get("code", str(resp.status_code)), body.get("message", resp.text))
                    log.warning("control plane error; retrying", status=resp.status_code)
                else:
                    result: dict[str, Any] = resp.json()
                    return result
            if self.stop.wait(delay):
                raise SessionClosed()
            delay = min(delay * 2, 5.0)


class AgentRequestError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
