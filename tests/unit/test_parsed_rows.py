"""`ParsedRows`: a listing parses only the rows whose text changed since the last one, and what it
returns is always what the store holds now."""

from __future__ import annotations

from pathlib import Path

from orchestrator.core.models import ContainerInstance, Service, Task
from orchestrator.core.store import ParsedRows, Store


def task(n: int) -> Task:
    return Task(
        taskArn=f"arn:aws:ecs:us-east-1:000000000000:task/default/{n:032x}",
        clusterArn="arn:aws:ecs:us-east-1:000000000000:cluster/default",
        taskDefinitionArn="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        group="service:web",
        lastStatus="PENDING",
        desiredStatus="RUNNING",
        createdAt=1000.0 + n,
    )


def test_unchanged_rows_are_not_parsed_again_and_changed_ones_are(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    with store.write() as s:
        for n in range(3):
            s.insert_task(task(n))
    parsed: ParsedRows[Task] = ParsedRows(Task)
    first = store.list_tasks("default", parsed=parsed)
    assert parsed.parsed == 3
    with store.write() as s:
        changed = s.get_task(first[1].taskArn)
        assert changed is not None
        changed.lastStatus = "RUNNING"
        s.update_task(changed)
    second = store.list_tasks("default", parsed=parsed)
    # 3 parsed for the first listing, 1 more for the one row that changed.
    assert parsed.parsed == 4
    assert second[0] is first[0] and second[2] is first[2]
    assert second[1] is not first[1]
    # What comes back equals a fresh parse of every row.
    assert [t.model_dump() for t in second] == [t.model_dump() for t in store.list_tasks("default")]
    assert second[1].lastStatus == "RUNNING" and second[1].version == 2


def test_rows_that_are_gone_leave_once_twice_the_largest_listing_and_a_margin_is_reached() -> None:
    parsed: ParsedRows[Task] = ParsedRows(Task)
    texts = {n: task(n).model_dump_json() for n in range(3000)}
    parsed.rows((str(n), texts[n]) for n in range(1000))
    # Listings of 1,000 rows each, the rows changing: kept up to 2 x 1,000 + 1,024 = 3,024 rows.
    parsed.rows((str(n), texts[n]) for n in range(1000, 2000))
    assert len(parsed._rows) == 2000
    parsed.rows((str(n), texts[n]) for n in range(2000, 3000))
    # 3,000 > 3,024 is false: still all kept; one more listing of new rows goes past the bound.
    assert len(parsed._rows) == 3000
    parsed.rows((f"x{n}", texts[n]) for n in range(100))
    assert len(parsed._rows) == 100


def instance(n: int, status: str = "ACTIVE") -> ContainerInstance:
    return ContainerInstance(
        containerInstanceArn=f"arn:aws:ecs:us-east-1:000000000000:container-instance/default/{n:032x}",
        ec2InstanceId=f"i-{n:04d}",
        registeredAt=1.0,
        status=status,
    )


def test_an_instance_listing_is_reused_inside_writes_until_an_instance_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    with store.write() as s:
        for n in range(3):
            s.insert_instance(instance(n), "h", heartbeat_at=1.0)
    parsed: ParsedRows[ContainerInstance] = ParsedRows(ContainerInstance)
    with store.write() as s:
        first = s.list_instances("default", parsed=parsed)
    with store.write() as s:
        assert s.list_instances("default", parsed=parsed) == first  # the same listing, no query
        s.update_instance(first[1].model_copy(update={"status": "DRAINING"}))
        # This transaction changed an instance: the listing is read afresh, with its own write.
        assert [i.status for i in s.list_instances("default", parsed=parsed)] == ["ACTIVE", "DRAINING", "ACTIVE"]
    with store.write() as s:
        assert [i.status for i in s.list_instances("default", parsed=parsed)] == ["ACTIVE", "DRAINING", "ACTIVE"]
    # Outside a write another thread's commit may land between the read and its stamp: never reused.
    assert store._instances_stamp("default") is None
    # Any later commit that writes an instance (another service's pass, an agent) makes it fresh.
    with store.write() as s:
        s.insert_instance(instance(3), "h", heartbeat_at=1.0)
    with store.write() as s:
        assert len(s.list_instances("default", parsed=parsed)) == 4
    store.close()


def test_services_with_load_balancers_are_chosen_without_parsing_the_others(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    lb = [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/t/1"}]
    with store.write() as s:
        for name, extra in (("plain", {}), ("web", {"loadBalancers": lb}), ("gone", {"loadBalancers": lb})):
            s.put_service(
                Service(
                    serviceArn=f"arn:aws:ecs:us-east-1:000000000000:service/default/{name}",
                    serviceName=name,
                    clusterArn="arn:aws:ecs:us-east-1:000000000000:cluster/default",
                    taskDefinition="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
                    createdAt=1.0,
                    status="INACTIVE" if name == "gone" else "ACTIVE",
                    **extra,
                )
            )
    assert [v.serviceName for v in store.services_with_load_balancers()] == ["web"]
    store.close()
