"""schemathesis over the OpenAPI schema the control plane serves: every route, with generated
valid and invalid inputs (fixed seed, bounded), against a real server process on loopback, with
the admin token. Not one response >= 500, the process stays up, and its memory stays bounded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.reliability.server_process import ServerProcess, server_process

EXAMPLES = 600  # cases across all routes; the run takes well under a minute
# Streams that never end by design (server-sent events) are not request/response routes.
SKIPPED_PATHS = ("/ui/events",)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with server_process(Path(tmp_path_factory.mktemp("fuzz"))) as s:
        yield s


def test_no_route_answers_5xx_to_generated_requests(server: ServerProcess) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(SKIPPED_PATHS):
            continue
        operations.append(operation)
    assert len(operations) > 30  # the schema really describes the API
    # Valid inputs and, as many, inputs that break the schema on purpose (wrong types, missing members).
    strategies = [op.as_strategy(generation_mode=mode) for op in operations for mode in GenerationMode]
    headers = {"authorization": f"Bearer {server.admin_token}"}
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    rss_before = server.rss_kib()
    session = httpx.Client(base_url=server.url, timeout=30)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        case = data.draw(st.one_of(strategies))
        kwargs = case.as_transport_kwargs(base_url=server.url, headers=headers)
        try:
            resp = session.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                headers=kwargs.get("headers"),
                content=kwargs.get("data") if isinstance(kwargs.get("data"), bytes | str) else None,
                json=kwargs.get("json"),
            )
        except httpx.HTTPError as err:
            failures.append(f"{case.method} {case.formatted_path}: {type(err).__name__}")
            return
        statuses[resp.status_code] += 1
        if resp.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {resp.status_code}: {resp.text[:200]}")

    one()
    session.close()
    rss_after = server.rss_kib()
    print(
        f"schemathesis: {sum(statuses.values())} requests over {len(operations)} routes: "
        f"{dict(sorted(statuses.items()))}"
    )
    print(f"RSS {rss_before} -> {rss_after} KiB")
    assert not failures, failures[:10]
    assert server.alive()
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert rss_after - rss_before < 200 * 1024
