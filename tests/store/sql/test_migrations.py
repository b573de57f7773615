"""The Alembic revisions shipped in the package build exactly the tables ``_schema`` declares,
and upgrading a database written at an older revision keeps its data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from runbase.model_entities import LoggedModelOutput
from runbase.store import upgrade_schema
from runbase.store.sql import SqlStore
from runbase.store.sql._engine import _MIGRATIONS, SCHEMA_REVISION, current_revision
from runbase.store.sql._schema import applies_to, metadata


def _schema_diff(conn: sa.Connection) -> list[object]:
    """What differs between the database and ``_schema``, leaving out items declared for another
    dialect (Alembic does not read ``ddl_if``)."""

    def include(obj: object, *_: object) -> bool:
        return applies_to(obj, conn.dialect.name)

    context = MigrationContext.configure(conn, opts={"include_object": include})
    return list(compare_metadata(context, metadata))


def test_migrations_match_schema(db_uri: str) -> None:
    assert upgrade_schema(db_uri) == SCHEMA_REVISION
    engine = sa.create_engine(db_uri)
    try:
        with engine.connect() as conn:
            diff = _schema_diff(conn)
        assert diff == []
        assert current_revision(engine) == SCHEMA_REVISION
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(db_uri: str) -> None:
    upgrade_schema(db_uri)
    assert upgrade_schema(db_uri) == SCHEMA_REVISION


def _upgrade_to(engine: sa.Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _fill_revision_0001(conn: sa.Connection) -> None:
    """What runbase 0.1 (schema 0001) wrote for one experiment with one run, as raw SQL."""
    conn.execute(
        sa.text(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time) VALUES "
            "(0, 'Default', 'file:///a/0', 'active', 1, 1), "
            "(1, 'old', 'file:///a/1', 'active', 2, 2)"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO runs (id, run_uuid, experiment_id, name, user_id, status, start_time, "
            "lifecycle_stage, artifact_uri) VALUES (1, :uuid, 1, 'r', 'u', 'FINISHED', 10, "
            "'active', :uri)"
        ),
        {"uuid": OLD_RUN, "uri": f"file:///a/1/{OLD_RUN}/artifacts"},
    )
    conn.execute(sa.text("INSERT INTO params (run_id, key, value) VALUES (1, 'lr', '0.1')"))
    conn.execute(sa.text("INSERT INTO tags (run_id, key, value) VALUES (1, 'mlflow.runName', 'r')"))
    conn.execute(sa.text("INSERT INTO metric_keys (id, key) VALUES (1, 'loss')"))
    conn.execute(
        sa.text(
            "INSERT INTO metric_summaries (run_id, key_id, last_value, last_is_nan, last_step, "
            "last_timestamp, min_value, max_value, count) "
            "VALUES (1, 1, 0.5, false, 1, 100, 0.5, 0.9, 2)"
        )
    )
    steps = np.array([0, 1], dtype="<i8").tobytes()
    stamps = np.array([99, 100], dtype="<i8").tobytes()
    values = np.array([0.9, 0.5], dtype="<f8").tobytes()
    conn.execute(
        sa.text(
            "INSERT INTO metric_chunks (run_id, key_id, seq, n, min_step, max_step, steps, "
            'timestamps, "values") VALUES (1, 1, 0, 2, 0, 1, :s, :t, :v)'
        ),
        {"s": steps, "t": stamps, "v": values},
    )
    if conn.dialect.name == "postgresql":  # explicit ids leave the sequences behind
        for table, column in (("experiments", "experiment_id"), ("runs", "id")):
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT max({column}) FROM {table}))"
                )
            )


OLD_RUN = "0123456789abcdef0123456789abcdef"


def test_upgrade_from_0001_keeps_data(db_uri: str, tmp_path: Path) -> None:
    engine = sa.create_engine(db_uri)
    try:
        _upgrade_to(engine, "0001")
        assert current_revision(engine) == "0001"
        with engine.begin() as conn:
            _fill_revision_0001(conn)
            assert not sa.inspect(conn).has_table("ingest_batches")
    finally:
        engine.dispose()

    assert upgrade_schema(db_uri) == SCHEMA_REVISION

    engine = sa.create_engine(db_uri)
    try:
        with engine.connect() as conn:
            assert _schema_diff(conn) == []
            assert set(metadata.tables) <= set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    store = SqlStore(db_uri, artifact_root=(tmp_path / "artifacts").as_uri())
    try:
        run = store.get_run(OLD_RUN)
        assert run.data.params == {"lr": "0.1"}
        assert run.data.metrics == {"loss": 0.5}
        assert store.get_metric_columns(OLD_RUN, "loss").values.tolist() == [0.9, 0.5]
        assert store.get_experiment("1").name == "old"
        # New rows land after the old ones, and the new tables work.
        assert store.create_experiment("new") == "2"
        models = store.models
        model = models.create_logged_model("1", name="m", source_run_id=OLD_RUN)
        models.log_outputs(OLD_RUN, [LoggedModelOutput(model.model_id, 0)])
        assert models.get_run_outputs(OLD_RUN) == [LoggedModelOutput(model.model_id, 0)]
    finally:
        store.close()


def _indexes(conn: sa.Connection, table: str) -> dict[str, list[str | None]]:
    return {ix["name"] or "": ix["column_names"] for ix in sa.inspect(conn).get_indexes(table)}


def test_upgrade_from_0003_adds_search_indexes(db_uri: str, tmp_path: Path) -> None:
    """A store written at revision 0003 gets the search indexes of 0004 and still searches."""
    engine = sa.create_engine(db_uri)
    try:
        _upgrade_to(engine, "0003")
        with engine.begin() as conn:
            _fill_revision_0001(conn)  # the tables it fills are the same at 0003
            assert "ix_metric_summaries_key_last" in _indexes(conn, "metric_summaries")
    finally:
        engine.dispose()

    assert upgrade_schema(db_uri) == SCHEMA_REVISION == "0004"

    engine = sa.create_engine(db_uri)
    try:
        with engine.connect() as conn:
            assert _schema_diff(conn) == []
            summaries = _indexes(conn, "metric_summaries")
            assert summaries["ix_metric_summaries_key_last_run"] == [
                "key_id",
                "last_value",
                "run_id",
            ]
            assert "ix_metric_summaries_key_last" not in summaries
            on_sqlite = conn.dialect.name == "sqlite"
            for table in ("params", "tags"):
                key_value = _indexes(conn, table).get(f"ix_{table}_key_value")
                assert key_value == (["key", "value", "run_id"] if on_sqlite else None)
    finally:
        engine.dispose()
    store = SqlStore(db_uri, artifact_root=(tmp_path / "artifacts").as_uri())
    try:
        for filter_string in (
            "params.lr = '0.1'",
            "metrics.loss < 0.6",
            "tags.mlflow.runName = 'r'",
        ):
            page = store.search_runs(["1"], filter_string, order_by=["metrics.loss DESC"])
            assert [r.info.run_id for r in page.runs] == [OLD_RUN], filter_string
        assert store.search_runs(["1"], "params.lr = '0.2'").runs == []
    finally:
        store.close()
