"""The safe-deletion rules shared by stateful sinks (metaingest.deletion), case by case."""

from __future__ import annotations

from collections.abc import Callable

from metaingest.connectors.base import Unit
from metaingest.deletion import Known, plan_deletions
from metaingest.entities import Database, DatabaseSchema
from metaingest.plan import DiscoveredDatabase, DiscoveredUnit, Plan
from metaingest.report import Report
from metaingest.sinks.base import RunScope

SVC = "svc"


def _yes(_: str) -> bool:
    return True


def scope(
    databases: dict[str, str | None],
    schemas: dict[str, str | None],
    complete: set[str],
    *,
    databases_listed: bool = True,
    database_in_scope: Callable[[str], bool] = _yes,
    schema_in_scope: Callable[[str], bool] = _yes,
    table_in_scope: Callable[[str, bool], bool] = lambda name, is_view: True,
) -> RunScope:
    """A run's scope: ``databases`` name -> skip reason, ``schemas`` 'db.schema' -> reason."""
    dbs = {name: Database(name=name, service=SVC) for name in databases}
    units = []
    for key, reason in schemas.items():
        db, schema = key.split(".")
        unit = Unit(dbs[db], DatabaseSchema(name=schema, database=dbs[db].fqn))
        units.append(DiscoveredUnit(unit, reason))
    plan = Plan(tuple(DiscoveredDatabase(dbs[n], r) for n, r in databases.items()), tuple(units))
    return RunScope(
        service=SVC,
        plan=plan,
        complete=frozenset(f"{SVC}.{fqn}" for fqn in complete),
        failed=frozenset(),
        databases_listed=databases_listed,
        database_in_scope=database_in_scope,
        schema_in_scope=schema_in_scope,
        table_in_scope=table_in_scope,
        procedure_in_scope=_yes,
        config_digest="",
        report=Report(),
    )


def known(*fqns: str) -> list[Known]:
    kinds = {2: "database", 3: "databaseSchema", 4: "table"}
    return [Known(f"{SVC}.{f}", kinds[f.count(".") + 2]) for f in fqns]  # type: ignore[arg-type]


def delivered(*fqns: str) -> set[str]:
    return {f"{SVC}.{f}" for f in fqns}


STATE = known("d", "d.s", "d.s.t1", "d.s.t2", "d.s.t3", "d.s.t4", "d.s.t5", "d.s.t6")


def test_a_table_gone_from_a_schema_read_whole_is_deleted() -> None:
    run = scope({"d": None}, {"d.s": None}, {"d.s"})
    out = plan_deletions(
        run,
        STATE,
        delivered("d", "d.s", "d.s.t1", "d.s.t2", "d.s.t3", "d.s.t4", "d.s.t5"),
        threshold=20,
    )
    assert out.delete == ("svc.d.s.t6",)
    assert out.withheld == () and out.out_of_scope == () and out.warnings == ()


def test_a_failed_schema_deletes_nothing() -> None:
    run = scope({"d": None}, {"d.s": None}, set())  # listed, but not read whole
    out = plan_deletions(run, STATE, delivered("d"), threshold=100)
    assert out.delete == () and out.out_of_scope == () and out.withheld == ()


def test_filtered_tables_and_schemas_are_out_of_scope_not_deleted() -> None:
    run = scope({"d": None}, {"d.s": None}, {"d.s"}, table_in_scope=lambda name, view: name != "t6")
    out = plan_deletions(
        run,
        STATE,
        delivered("d", "d.s", "d.s.t1", "d.s.t2", "d.s.t3", "d.s.t4", "d.s.t5"),
        threshold=100,
    )
    assert out.delete == () and out.out_of_scope == ("svc.d.s.t6",)

    run = scope({"d": None}, {"d.s": "excluded by '^s$'"}, set(), schema_in_scope=lambda n: False)
    out = plan_deletions(run, STATE, delivered("d"), threshold=100)
    assert out.delete == ()
    assert set(out.out_of_scope) == {"svc.d.s"} | {f"svc.d.s.t{i}" for i in range(1, 7)}


def test_a_dropped_schema_is_deleted_with_its_tables() -> None:
    state = [*STATE, *known("d.other", "d.other.x")]
    run = scope({"d": None}, {"d.s": None}, {"d.s"})
    everything = delivered("d", "d.s", *(f"d.s.t{i}" for i in range(1, 7)))
    out = plan_deletions(run, state, everything, threshold=100)
    assert out.delete == ("svc.d.other", "svc.d.other.x")


def test_a_schema_of_a_database_whose_list_was_not_read_is_kept() -> None:
    state = [*STATE, *known("e", "e.s", "e.s.t")]
    run = scope({"d": None, "e": "schema listing failed: timeout"}, {"d.s": None}, {"d.s"})
    everything = delivered("d", "d.s", *(f"d.s.t{i}" for i in range(1, 7)))
    out = plan_deletions(run, state, everything, threshold=100)
    assert out.delete == () and out.out_of_scope == ()


def test_databases_are_deleted_only_when_the_service_listing_was_read() -> None:
    state = [*STATE, *known("gone", "gone.s", "gone.s.t")]
    everything = delivered("d", "d.s", *(f"d.s.t{i}" for i in range(1, 7)))
    named = scope({"d": None}, {"d.s": None}, {"d.s"}, databases_listed=False)
    out = plan_deletions(named, state, everything, threshold=100)
    assert out.delete == () and out.out_of_scope == ("svc.gone",)

    listed = scope({"d": None}, {"d.s": None}, {"d.s"})
    out = plan_deletions(listed, state, everything, threshold=100)
    assert out.delete == ("svc.gone", "svc.gone.s", "svc.gone.s.t")


def test_an_empty_listing_deletes_nothing_and_warns() -> None:
    run = scope({"d": None}, {"d.s": None}, {"d.s"})
    out = plan_deletions(run, STATE, delivered("d", "d.s"), threshold=100)
    assert out.delete == ()
    assert [where for where, _ in out.warnings] == ["svc.d.s"]
    assert "none now" in out.warnings[0][1]


def test_the_fail_safe_withholds_every_deletion_above_the_threshold() -> None:
    run = scope({"d": None}, {"d.s": None}, {"d.s"})
    some = delivered("d", "d.s", "d.s.t1", "d.s.t2", "d.s.t3")  # 3 of 8 live would go: 37.5 %
    out = plan_deletions(run, STATE, some, threshold=20)
    assert out.delete == ()
    assert out.withheld == ("svc.d.s.t4", "svc.d.s.t5", "svc.d.s.t6")
    assert "withheld" in out.warnings[-1][1]

    out = plan_deletions(run, STATE, some, threshold=20, allow_mass_delete=True)
    assert out.delete == ("svc.d.s.t4", "svc.d.s.t5", "svc.d.s.t6") and out.withheld == ()
    assert plan_deletions(run, STATE, some, threshold=40).delete == out.delete


def test_entities_of_another_service_are_never_touched() -> None:
    other = [Known("old_name.d.s.t1", "table"), Known("old_name.d", "database")]
    run = scope({"d": None}, {"d.s": None}, {"d.s"})
    out = plan_deletions(run, other, delivered("d", "d.s"), threshold=100)
    assert out == type(out)()


def test_only_the_undelivered_need_be_known_when_the_live_count_is_given() -> None:
    """A sink that compares as batches arrive passes what it did not see, and the live count."""
    run = scope({"d": None}, {"d.s": None}, {"d.s"})
    missing = known("d.s.t4", "d.s.t5", "d.s.t6")
    one_per_parent = delivered("d", "d.s", "d.s.t1")
    out = plan_deletions(run, missing, one_per_parent, threshold=20, live=8)
    assert out.delete == () and out.withheld == ("svc.d.s.t4", "svc.d.s.t5", "svc.d.s.t6")
    out = plan_deletions(run, missing, one_per_parent, threshold=40, live=8)
    assert out.delete == ("svc.d.s.t4", "svc.d.s.t5", "svc.d.s.t6")
    # the same answers as with the whole state
    full = delivered("d", "d.s", "d.s.t1", "d.s.t2", "d.s.t3")
    assert plan_deletions(run, STATE, full, threshold=40) == out
