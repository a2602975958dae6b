"""The long-running commands: `server`, `agent`, and `dev` (a control plane and N agents in one process)."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from orchestrator.cli.client import CliError, default_data_dir
from orchestrator.cli.output import say

if TYPE_CHECKING:
    from orchestrator.core.settings import Settings

# These commands import the server, the agent and the Docker SDK inside their bodies: every other
# command starts without paying for them.


def _attributes(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--attribute {pair!r}: use NAME=VALUE.")
        out[name] = value
    return out


def _settings(
    health_grace: float,
    lost_after: float,
    metric_period: float,
    high_datapoints: int,
    low_datapoints: int,
    allow: list[str] | None = None,
    region: str | None = None,
    allow_host_paths: list[str] | None = None,
) -> Settings:
    from orchestrator.core.settings import Settings
    from orchestrator.operations.workload_policy import parse_allow, parse_host_paths

    try:
        allowed = parse_allow(allow or [])
        host_paths = parse_host_paths(allow_host_paths or [])
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    settings = Settings(
        health_grace_s=health_grace,
        lost_after_s=lost_after,
        metric_period_s=metric_period,
        autoscaling_high_datapoints=high_datapoints,
        autoscaling_low_datapoints=low_datapoints,
        allow=allowed,
        allow_host_paths=host_paths,
    )
    if region:
        if not REGION_RE.match(region):
            raise typer.BadParameter(f"--region {region!r} is not a region name such as us-east-1.")
        settings.region = region
    return settings


REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
REGION_HELP = "The region this control plane serves, in every ARN (default: AWS_DEFAULT_REGION or us-east-1)."


_ALLOW_HELP = (
    "Workload policy rules to allow, comma-separated or repeated: privileged, host-pid, host-ipc, capabilities, "
    "devices, host-bind-mounts, docker-socket. Without it task definitions using them are refused."
)
_ALLOW_HOST_PATH_HELP = (
    "A host directory (repeatable) that volumes' host.sourcePath may be in without --allow host-bind-mounts; "
    "compared as normalised absolute paths. The Docker socket still needs --allow docker-socket."
)


DEV_STOPPED_REASON = "Local cluster stopped (orchestrator dev exited without --keep)"


def _check_listen(listen: str) -> None:
    from orchestrator.server import parse_listen

    try:
        parse_listen(listen)
    except ValueError as err:
        raise CliError(str(err), code=2) from None


def _select_context(name: str, url: str, data_dir: Path) -> None:
    from orchestrator.cli.contexts import add_context

    try:
        add_context(name, url, None, str((data_dir / "admin.token").resolve()), None, use=True)
    except (CliError, OSError) as err:  # a read-only home must not stop the cluster
        say(f"  (could not save the CLI context {name!r}: {err})")


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


T = TypeVar("T")


def opened(start: Callable[[], T]) -> T:
    """Start a control plane, turning a damaged database or a busy data dir into one clear line."""
    from orchestrator.core.store import StoreDamaged
    from orchestrator.server import DataDirBusy

    try:
        return start()
    except (StoreDamaged, DataDirBusy) as err:
        raise CliError(str(err)) from None


def server(
    data_dir: Path = typer.Option(None, "--data-dir", help="Where the database and tokens live."),
    listen: str = typer.Option("127.0.0.1:8420", "--listen", help="HOST:PORT; loopback unless told otherwise."),
    health_grace: float = typer.Option(
        40.0, "--health-grace", help="Seconds RUNNING before a task with no health check counts as healthy (ECS: 40)."
    ),
    lost_after: float = typer.Option(
        60.0, "--lost-after", help="Seconds of agent silence before its tasks are stopped and replaced elsewhere."
    ),
    metric_period: float = typer.Option(60.0, "--metric-period", help="Autoscaling metric period in seconds."),
    high_datapoints: int = typer.Option(
        3,
        "--high-datapoints",
        min=1,
        help="Target tracking scales out after this many datapoints above the target (ECS: 3).",
    ),
    low_datapoints: int = typer.Option(
        15,
        "--low-datapoints",
        min=1,
        help="Target tracking scales in after this many datapoints below 90 % of the target (ECS: 15).",
    ),
    allow: list[str] = typer.Option([], "--allow", help=_ALLOW_HELP),
    allow_host_path: list[str] = typer.Option([], "--allow-host-path", help=_ALLOW_HOST_PATH_HELP),
    log_level: str = typer.Option("info", "--log-level"),
    region: str = typer.Option(None, "--region", help=REGION_HELP),
    tls_cert: Path = typer.Option(None, "--tls-cert", help="Serve HTTPS with this certificate (PEM, chain)."),
    tls_key: Path = typer.Option(None, "--tls-key", help="The private key of --tls-cert (PEM)."),
    tls: bool = typer.Option(
        False, "--tls", help="Serve HTTPS with a CA and certificate made at first start (the default off loopback)."
    ),
    allow_plain_http: bool = typer.Option(
        False, "--allow-plain-http", help="Serve plain HTTP on a non-loopback address (tokens cross in clear)."
    ),
) -> None:
    """Run the control plane."""
    from orchestrator.core.logs import configure
    from orchestrator.server import ControlPlane

    data_dir = data_dir or default_data_dir()
    # Flags are checked before logging is set up: a refused flag leaves the process as it found it.
    settings = _settings(
        health_grace, lost_after, metric_period, high_datapoints, low_datapoints, allow, region, allow_host_path
    )
    configure(log_level)
    _check_listen(listen)
    certificates = _certificates(data_dir, listen, tls_cert, tls_key, tls, allow_plain_http)
    plane = opened(lambda: ControlPlane(data_dir, settings, tls=certificates))
    say(f"admin token: {data_dir / 'admin.token'}   join token: {data_dir / 'join.token'}")
    if certificates is not None and certificates.ca is not None:
        say(f"TLS with this control plane's own CA ({certificates.ca}); agents join with the pinned token:")
        say(f"  orchestrator agent --server https://HOST:PORT --join-token '{_pinned_hint(plane)}' --zone ...")
    plane.serve(listen)


def _pinned_hint(plane: Any) -> str:
    """The pinned join token's shape, naming the file rather than printing the secret."""
    pin = plane.tls.fingerprint()
    return f"$(cat {plane.data_dir / 'join.token'})@sha256:{pin}"


def _certificates(
    data_dir: Path, listen: str, cert: Path | None, key: Path | None, generate: bool, allow_plain_http: bool
) -> Any:
    """What to serve HTTPS with, if anything: given files, our own CA, or (loopback, or allowed) none."""
    from orchestrator.security.tls import Certificates, ensure_certificates, is_loopback
    from orchestrator.server import parse_listen

    if (cert is None) != (key is None):
        raise CliError("--tls-cert and --tls-key go together", code=2)
    if cert is not None and key is not None:
        for path in (cert, key):
            if not path.is_file():
                raise CliError(f"{path} is not a readable file", code=2)
        return Certificates(cert=cert, key=key)
    host = parse_listen(listen)[0]
    if generate or (not is_loopback(host) and not allow_plain_http):
        data_dir.mkdir(parents=True, exist_ok=True)
        return ensure_certificates(data_dir, host)
    if not is_loopback(host):
        say(f"warning: plain HTTP on {host}: the admin token, join tokens and credentials cross the network in clear")
    return None


def agent(
    server_url: str = typer.Option(..., "--server", help="Control plane URL, e.g. http://10.0.0.5:8420."),
    join_token: str = typer.Option(..., "--join-token", envvar="ORCH_JOIN_TOKEN", help="The server's join.token."),
    zone: str = typer.Option(..., "--zone", help="Availability zone of this instance, e.g. us-east-1a."),
    cpu: int = typer.Option(None, "--cpu", help="CPU units to offer (default: cores x 1024)."),
    memory: int = typer.Option(None, "--memory", help="MiB to offer (default: the host's memory)."),
    attribute: list[str] = typer.Option([], "--attribute", help="Custom attribute NAME=VALUE; repeat."),
    name: str = typer.Option("", "--name", help="A name for this instance (attribute orch.name)."),
    instance_type: str = typer.Option("local.custom", "--instance-type"),
    cluster: str = typer.Option("default", "--cluster"),
    state_dir: Path = typer.Option(None, "--state-dir", help="Where the agent keeps its identity."),
    stop_timeout: int = typer.Option(30, "--stop-timeout", help="Default seconds between SIGTERM and SIGKILL."),
    metric_period: float = typer.Option(60.0, "--metric-period"),
    host_address: str = typer.Option(
        None,
        "--host-address",
        help="Publish task ports on this IPv4 address of the host only, and report it (attribute "
        "orch.host-address; load balancers send traffic there). Default: every address.",
    ),
    gpus: int = typer.Option(
        None,
        "--gpus",
        min=0,
        help="GPUs to offer (resource GPU; tasks with resourceRequirements GPU get them as NVIDIA device "
        "requests). Default: the GPUs nvidia-smi -L or /dev/nvidia<N> show; 0 for none.",
    ),
    fargate: bool = typer.Option(
        False,
        "--fargate",
        help="Join the managed Fargate pool (launchType FARGATE tasks of every cluster) instead of --cluster; "
        "the pool is listed as no cluster's container instances.",
    ),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run a node agent: register as a container instance and run its tasks on the local Docker engine."""
    from agent import gpus as gpu_ids
    from agent.executor.docker import DockerExecutor
    from agent.main import Agent, AgentConfig, default_cpu_units, default_memory_mib
    from agent.session import Registration
    from orchestrator.core.logs import configure

    configure(log_level)
    state_dir = state_dir or (default_data_dir() / "agent")
    registration = Registration(
        zone=zone,
        cpu=cpu or default_cpu_units(),
        memory=memory or default_memory_mib(),
        cluster=cluster,
        name=name,
        instance_type=instance_type,
        attributes=_attributes(attribute),
        host_address=host_address,
        gpus=[] if fargate else gpu_ids.offered(gpus, gpu_ids.detect()),
        fargate=fargate,
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    config = AgentConfig(
        server=server_url,
        join_token=join_token,
        registration=registration,
        state_file=state_dir / f"{name or 'agent'}.json",
        stop_timeout_s=stop_timeout,
        metric_period_s=metric_period,
    )
    Agent(config, DockerExecutor(), stop).run()


# Real agents each run their containers on the one local Docker engine; simulated ones cost a few
# threads and some memory each (see `simulated_agent_limit`).
MAX_DOCKER_AGENTS = 50
# What one simulated agent costs in the dev process (its threads' stacks, session, fake engine).
SIMULATED_AGENT_MIB = 4
SIMULATED_AGENT_THREADS = 6
# A simulated fleet of hundreds in one process must cost little while idle, and every call an
# agent makes costs the process a few milliseconds: so its agents long-poll for a minute (a poll
# in flight counts as connected, so the silence limits stay as they are), their workers look again
# on their own only every so often (assignments and fake-engine events wake them), and they report
# metrics every five minutes unless told otherwise.
SIMULATED_POLL_WAIT_S = 60.0
SIMULATED_PASS_INTERVAL_S = 10.0
SIMULATED_METRIC_PERIOD_S = 300.0
SIMULATED_SWEEP_S = 60.0
DOCKER_METRIC_PERIOD_S = 10.0


def _meminfo_mib(field: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def simulated_agent_limit() -> int:
    """How many simulated agents this machine holds: its free memory and its thread limit, halved."""
    available = _meminfo_mib("MemAvailable") or 2048
    limits = [available // SIMULATED_AGENT_MIB // 2]
    try:
        with open("/proc/sys/kernel/threads-max") as f:
            limits.append(int(f.read()) // SIMULATED_AGENT_THREADS // 2)
    except (OSError, ValueError):
        pass
    return max(1, min(limits))


def check_agent_count(agents: int, simulated: bool) -> None:
    if not simulated and agents > MAX_DOCKER_AGENTS:
        raise typer.BadParameter(
            f"--agents {agents}: at most {MAX_DOCKER_AGENTS} agents share the local Docker engine; "
            "add --simulated for more (the fake executor: no containers).",
            param_hint="--agents",
        )
    if simulated and agents > (limit := simulated_agent_limit()):
        raise typer.BadParameter(
            f"--agents {agents}: this machine holds about {limit} simulated agents "
            f"({SIMULATED_AGENT_MIB} MiB and {SIMULATED_AGENT_THREADS} threads each, half of what is free).",
            param_hint="--agents",
        )


def dev(
    agents: int = typer.Option(
        3, "--agents", min=1, help=f"How many agents (at most {MAX_DOCKER_AGENTS} unless --simulated)."
    ),
    simulated: bool = typer.Option(
        False,
        "--simulated",
        help="Simulated instances on the fake executor: tasks go RUNNING with no container started, so a "
        "cluster of hundreds or thousands of instances fits on one machine.",
    ),
    zones: str = typer.Option("us-east-1a,us-east-1b,us-east-1c", "--zones"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    listen: str = typer.Option("127.0.0.1:8420", "--listen"),
    cpu: int = typer.Option(2048, "--cpu", help="CPU units per agent."),
    memory: int = typer.Option(2048, "--memory", help="MiB per agent."),
    instance_type: str = typer.Option("t3.small", "--instance-type"),
    gpus: int = typer.Option(
        0,
        "--gpus",
        min=0,
        help="GPUs per agent (resource GPU): the host's own ones first, split between the agents, then "
        "device indices, which a task can be placed on but (without an NVIDIA runtime) not started with; "
        "with --simulated, as many as you like.",
    ),
    fargate: int = typer.Option(
        2,
        "--fargate",
        min=0,
        help="Agents of the managed Fargate pool, where launchType FARGATE tasks run; they share the same "
        "engine and are listed as no cluster's container instances. 0: no Fargate.",
    ),
    health_grace: float = typer.Option(
        5.0,
        "--health-grace",
        help="Seconds before a task with no health check "
        "counts as healthy (ECS waits 40; shorter here so rollouts are quick).",
    ),
    lost_after: float = typer.Option(60.0, "--lost-after"),
    stop_timeout: int = typer.Option(30, "--stop-timeout"),
    metric_period: float = typer.Option(
        None,
        "--metric-period",
        help=f"Autoscaling metric period in seconds (default {DOCKER_METRIC_PERIOD_S:g}; "
        f"{SIMULATED_METRIC_PERIOD_S:g} with --simulated).",
    ),
    high_datapoints: int = typer.Option(3, "--high-datapoints", min=1),
    low_datapoints: int = typer.Option(15, "--low-datapoints", min=1),
    keep: bool = typer.Option(False, "--keep", help="Leave task containers running on exit."),
    host_addresses: bool = typer.Option(
        True,
        "--host-addresses/--shared-address",
        help="Give each agent its own loopback address (127.0.1.N, attribute orch.host-address) to publish "
        "task ports on, so N agents can each run a task on the same static host port, as N EC2 instances "
        "would; --shared-address publishes every agent's ports on all addresses.",
    ),
    context: str = typer.Option(
        "dev", "--context", help="Add (or update) this CLI context for the cluster and select it; '' for none."
    ),
    allow: list[str] = typer.Option([], "--allow", help=_ALLOW_HELP),
    allow_host_path: list[str] = typer.Option([], "--allow-host-path", help=_ALLOW_HOST_PATH_HELP),
    log_level: str = typer.Option("warning", "--log-level"),
    region: str = typer.Option(None, "--region", help=REGION_HELP),
) -> None:
    """A local cluster in one process: the control plane and N agents sharing the local Docker engine."""
    import structlog

    from orchestrator.core.logs import configure
    from orchestrator.local import LocalCluster

    check_agent_count(agents, simulated)
    data_dir = data_dir or default_data_dir()
    zone_list = [z.strip() for z in zones.split(",") if z.strip()]
    if not zone_list:
        raise typer.BadParameter("--zones needs at least one zone.")
    if metric_period is None:
        metric_period = SIMULATED_METRIC_PERIOD_S if simulated else DOCKER_METRIC_PERIOD_S
    settings = _settings(
        health_grace, lost_after, metric_period, high_datapoints, low_datapoints, allow, region, allow_host_path
    )
    configure(log_level)  # after the flags' checks: a refused flag leaves the process as it found it
    _check_listen(listen)
    poll_wait_s, pass_interval_s = 5.0, 2.0
    if simulated:
        from agent.executor.base import Executor
        from agent.executor.fake import FakeExecutor

        def executor_factory() -> Executor:
            return FakeExecutor()

        settings.agent_poll_max_s = SIMULATED_POLL_WAIT_S
        # The safety-net pass over every service parses every task: once a minute, not every 5 s.
        settings.service_sweep_s = SIMULATED_SWEEP_S
        poll_wait_s, pass_interval_s = SIMULATED_POLL_WAIT_S, SIMULATED_PASS_INTERVAL_S
    else:
        from agent.executor.docker import DockerExecutor

        executor_factory = DockerExecutor
    cluster = opened(
        lambda: LocalCluster(
            data_dir,
            executor_factory=executor_factory,
            settings=settings,
            agent_cpu=cpu,
            agent_memory=memory,
            stop_timeout_s=stop_timeout,
            listen=listen,
            host_addresses=host_addresses,
            agent_gpus=gpus,
            poll_wait_s=poll_wait_s,
            pass_interval_s=pass_interval_s,
            # Exec into a fake container gets the agent's clear refusal; logs it cannot have.
            agent_ship_logs=not simulated,
        )
    )
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        cluster.start_agents(agents, tuple(zone_list), instance_type=instance_type)
        cluster.start_fargate_agents(fargate, tuple(zone_list))
    except RuntimeError as err:
        structlog.get_logger("orchestrator.cli").warning("an agent did not register", error=str(err))
    url = cluster.url
    if context:
        _select_context(context, url, data_dir)
    kind = "simulated agents (fake executor, no containers)" if simulated else "agents"
    say(f"local cluster ready: control plane {url}, {agents} {kind} in zones {', '.join(zone_list)}")
    if fargate:
        say(f"  launchType FARGATE runs on a managed pool of {fargate} agents (not listed as container instances)")
    if simulated:
        say(f"  agents long-poll {SIMULATED_POLL_WAIT_S:g} s at a time; metrics every {settings.metric_period_s:g} s")
    if context:
        say(f"  CLI context {context!r} selected: `orchestrator` commands in any shell reach this cluster")
    else:
        say(f"  export ORCH_SERVER={url} ORCH_DATA_DIR={data_dir}")
    say(f"  dashboard: {url}/ui  (sign in with the token in {data_dir}/admin.token)")
    say("  orchestrator status    # Ctrl-C stops the cluster" + ("" if keep else " and removes its task containers"))
    stop.wait()
    say("stopping ...")
    removed = cluster.close(remove_containers=not keep, stopped_reason=DEV_STOPPED_REASON)
    if not keep:
        say(f"removed {removed} task containers")
