"""The rule book: each placement profile's rule, stated plainly, with the fast index beside it.

- `ecs`: the ECS rule (filters, the strategy chain, the seeded tie-break) in plain code, O(instances)
  per task. It is the definition; `ecs_index` is the same rule computed incrementally, and the
  property tests check that the two agree exactly on random clusters.
- `kubernetes`: kube-scheduler's default plugins (PodTopologySpread, LeastAllocated,
  BalancedAllocation); kube scores every node for every pod, so its plain rule is also what runs.

Every rule works over `scheduler.state.InstanceState`, ranks with `scheduler.strategies` and
filters with `scheduler.filters`, and explains itself with the records of `scheduler.explanation`.
"""
