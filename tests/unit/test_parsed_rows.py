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


def mark_running(store: Store, arn: str) -> Task:
    """Write the task RUNNING, as its agent's report does; the model written."""
    with store.write() as s:
        changed = s.get_task(arn)
        assert changed is not None
        changed.lastStatus = "RUNNING"
        s.update_task(changed)
    return changed


def test_unchanged_rows_are_not_parsed_again_and_changed_ones_are(tmp_path: Path) -> None:
    writer = Store(tmp_path / "db")
    with writer.write() as s:
        for n in range(3):
            s.insert_task(task(n))
    # A store of its own on the same file: none of the rows is one it wrote, so each is parsed.
    store = Store(tmp_path / "db")
    parsed: ParsedRows[Task] = ParsedRows(Task)
    first = store.list_tasks("default", parsed=parsed)
    assert parsed.parsed == 3
    mark_running(writer, first[1].taskArn)
    second = store.list_tasks("default", parsed=parsed)
    # 3 parsed for the first listing, 1 more for the one row that changed.
    assert parsed.parsed == 4
    assert second[0] is first[0] and second[2] is first[2]
    assert second[1] is not first[1]
    # What comes back equals a fresh parse of every row.
    assert [t.model_dump() for t in second] == [t.model_dump() for t in store.list_tasks("default")]
    assert second[1].lastStatus == "RUNNING" and second[1].version == 2


def test_rows_the_store_just_wrote_come_back_as_the_write_parsed_them_and_a_rollback_leaves_none(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "db")
    with store.write() as s:
        for n in range(3):
            s.insert_task(task(n))
    parsed: ParsedRows[Task] = ParsedRows(Task)
    first = store.list_tasks("default", parsed=parsed)
    assert parsed.parsed == 0  # the write guard's own parse of each row's text, taken as it is
    assert [t.model_dump() for t in first] == [t.model_dump() for t in Store(tmp_path / "db").list_tasks("default")]
    assert [t.model_dump() for t in store.tasks_by_arn([t.taskArn for t in first], shared=True)] == [
        t.model_dump() for t in store.tasks_by_arn([t.taskArn for t in first])
    ]

    class Undo(Exception):
        pass

    changed = first[0].model_copy(deep=True)
    changed.lastStatus = "RUNNING"
    try:
        with store.write() as s:
            s.update_task(changed)
            raise Undo
    except Undo:
        pass
    # The rolled-back row is not what the store holds: the listing is the committed row, unchanged.
    again = store.list_tasks("default", parsed=parsed)
    assert again[0] is first[0] and again[0].lastStatus == "PENDING"
    committed = mark_running(store, first[0].taskArn)
    after = store.list_tasks("default", parsed=parsed)
    assert parsed.parsed == 0 and after[0].lastStatus == "RUNNING" and after[0] is not committed


def test_rows_that_are_gone_leave_once_the_cache_outgrows_twice_the_rows_returned_and_a_margin() -> None:
    parsed: ParsedRows[Task] = ParsedRows(Task)
    texts = {n: task(n).model_dump_json() for n in range(2000)}
    parsed.rows((str(n), texts[n]) for n in range(2000))
    # 2,000 rows > the first limit, the margin of 1,024: all were returned since, so all stay, and
    # the limit becomes 2 x 2,000 + 1,024 = 5,024.
    assert len(parsed._rows) == 2000
    for gen in range(2):
        # Listings of new rows only (the first 2,000 are gone): 2,000 + 4 x 1,000 = 6,000 > 5,024.
        for k in range(4):
            parsed.rows((f"x{gen}-{k}-{n}", texts[n]) for n in range(1000))
        if gen == 0:
            # Kept: returned since the last prune (4,000) or between the two before (the 2,000):
            # nothing leaves yet (a row gets a whole prune's time to be listed again); limit 13,024.
            assert len(parsed._rows) == 6000
    # The second round adds 4,000 (10,000 <= 13,024, no prune) ...
    assert len(parsed._rows) == 10_000
    for k in range(4):  # ... and 4,000 more pass the limit: 14,000 > 13,024 at the fourth listing
        parsed.rows((f"y{k}-{n}", texts[n]) for n in range(1000))
    # Kept: the 8,000 returned since the last prune (rounds x1 and y) and the 4,000 of round x0,
    # returned between the two before; the first 2,000, listed before those, leave.
    assert len(parsed._rows) == 12_000
    assert "0" not in parsed._rows and "x0-0-0" in parsed._rows and "y3-999" in parsed._rows


def test_many_listings_sharing_one_cache_do_not_parse_their_rows_again() -> None:
    # The service controller lists 100 services of 100 tasks in turn, with one cache: a bound on one
    # listing's size (100) dropped the other services' rows on every pass, to be parsed again.
    parsed: ParsedRows[Task] = ParsedRows(Task)
    texts = {n: task(n).model_dump_json() for n in range(10_000)}

    def round_of_passes() -> int:
        before = parsed.parsed
        for service in range(100):
            parsed.rows((str(n), texts[n]) for n in range(service * 100, service * 100 + 100))
        return parsed.parsed - before

    # Growing, the cache is pruned at 1,100 rows (keeps 1,100; limit 3,224), 3,300 (keeps 3,300;
    # limit 7,624) and 7,700 (keeps those returned since the prune before last, 1,100-7,699):
    # rows 0-1,099 were not listed for two prunes and are parsed again in the second round.
    assert [round_of_passes() for _ in range(3)] == [10_000, 1_100, 0]


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
