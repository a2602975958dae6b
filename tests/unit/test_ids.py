"""New ids: random by default, derived from the seed in the simulator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from orchestrator.core.ids import Ids, SeededIds


def draws(ids: Ids) -> list[str]:
    return [ids.hex("task", 16), ids.hex("task", 16), ids.digits("ec2", 17), ids.hex("instance", 8, basis="n1")]


def test_one_seed_names_everything_alike_and_another_seed_differently() -> None:
    assert draws(SeededIds(7)) == draws(SeededIds(7))
    assert draws(SeededIds(7)) != draws(SeededIds(8))
    first = draws(SeededIds(7))
    assert len(set(first)) == 4  # each draw is a new id
    assert [len(i) for i in first] == [32, 32, 17, 16]  # 16 bytes, 17 digits, 8 bytes
    assert first[2].isdigit()


def test_an_id_with_a_basis_does_not_depend_on_the_order_others_were_drawn_in() -> None:
    # Agents register concurrently: agent n2's instance id must not depend on whether n1 came first.
    a, b = SeededIds(7), SeededIds(7)
    a_n1, a_n2 = a.hex("instance", 16, basis="n1"), a.hex("instance", 16, basis="n2")
    b_n2, b_n1 = b.hex("instance", 16, basis="n2"), b.hex("instance", 16, basis="n1")
    assert (a_n1, a_n2) == (b_n1, b_n2)
    a.hex("task", 16)
    assert a.hex("instance", 16, basis="n3") == b.hex("instance", 16, basis="n3")  # tasks do not shift it


def test_concurrent_draws_never_repeat_an_id() -> None:
    ids = SeededIds(1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(lambda _: [ids.hex("task", 16) for _ in range(500)], range(4)))
    assert len({i for batch in batches for i in batch}) == 2000  # 4 threads x 500 draws


def test_the_default_ids_are_random() -> None:
    assert draws(Ids()) != draws(Ids())
    assert len(Ids().digits("ec2", 17)) == 17
