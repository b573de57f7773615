"""Tables of the SQL store (SQLAlchemy Core), at the newest schema revision.

Layout choices, each measured:

* Integer surrogate keys everywhere; the 32-hex run id is only looked up once per call.
* Metric keys are interned in ``metric_keys`` so per-point tables carry a small integer.
* Metric points live in ``metric_chunks``: up to ``CHUNK_POINTS`` points packed as three little-
  endian arrays per row. Every chunk but the last of a series is full, so reading a series is a
  few rows and ingest is a few inserts, where one row per point caps near 0.7 M points/s.
* ``metric_summaries`` holds last/min/max/count per run and key, kept current on every write, so
  run tables and searches never touch points.

* Logged models and the registry (revision 0002) reference runs, experiments and each other by
  integer key with ON DELETE CASCADE, so deleting a row takes its tags, params, versions and
  aliases along. Run ids stored as text (``source_run_id``, a version's ``run_id``) are not keys:
  a model outlives its run, as in MLflow.

* Journals and leases (revision 0003) are what sweep agents coordinate through: ``journals``
  holds each journal's length, and its row is locked by every append, so entries get gap-free
  numbers in commit order; ``leases`` is one row per lease.

* Search indexes (revision 0004): ``metric_summaries (key_id, last_value, run_id)`` is walked in
  order by a search sorted on a metric; ``params``/``tags (key, value, run_id)`` find the runs of
  an equality filter. The latter exist on SQLite only (see the revision for why), so they are
  declared with ``ddl_if``; :func:`applies_to` says where an item exists.

Alembic revisions under ``migrations/`` create these tables; a test checks they agree.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

CHUNK_POINTS: Final = 2048

metadata = MetaData()

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), nullable=False, unique=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("deleted_time", BigInteger),
    Column("artifact_uri", Text, nullable=False),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
)

run_params = Table(
    "params",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_params_key_value", "key", "value", "run_id", unique=True).ddl_if(dialect="sqlite"),
)

run_tags = Table(
    "tags",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tags_key_value", "key", "value", "run_id", unique=True).ddl_if(dialect="sqlite"),
)

metric_keys = Table(
    "metric_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(250), nullable=False, unique=True),
)

metric_summaries = Table(
    "metric_summaries",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", Integer, ForeignKey("metric_keys.id"), primary_key=True),
    # NULL with last_is_nan set stands for NaN: SQLite cannot store NaN in a REAL column.
    Column("last_value", Double),
    Column("last_is_nan", Boolean, nullable=False),
    Column("last_step", BigInteger, nullable=False),
    Column("last_timestamp", BigInteger, nullable=False),
    Column("min_value", Double),
    Column("max_value", Double),
    Column("count", BigInteger, nullable=False),
    Index("ix_metric_summaries_key_last_run", "key_id", "last_value", "run_id"),
)

metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", Integer, ForeignKey("metric_keys.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("max_step", BigInteger, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("values", LargeBinary, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(500), nullable=False),
    Column("digest", String(36), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text, nullable=False),
    Column("profile", Text, nullable=False),
    UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_name_digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), primary_key=True),
    Column("context", String(255), primary_key=True),
    Column("tags", Text, nullable=False),  # JSON object of the input's tags
)

# -- idempotent ingest (revision 0002) -----------------------------------------------------------
# One row per metric batch already applied, so a retried batch with the same id is a no-op.
ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Index("ix_ingest_batches_run", "run_id"),
)

# -- logged models (revision 0002) ---------------------------------------------------------------
logged_models = Table(
    "logged_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(34), nullable=False, unique=True),  # "m-" + 32 hex
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_message", Text),
    Column("model_type", String(500)),
    # The run's 32-hex id, not a key: the model outlives its run, as in MLflow.
    Column("source_run_id", String(32)),
    Index("ix_logged_models_experiment_created", "experiment_id", "creation_time"),
    Index("ix_logged_models_source_run", "source_run_id"),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column(
        "logged_model_id",
        Integer,
        ForeignKey("logged_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column(
        "logged_model_id",
        Integer,
        ForeignKey("logged_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_metrics = Table(
    "logged_model_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "logged_model_id",
        Integer,
        ForeignKey("logged_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("key", String(250), nullable=False),
    Column("value", Double),  # NULL stands for NaN, as in metric_summaries
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("run_id", String(32)),
    Column("dataset_name", String(500)),
    Column("dataset_digest", String(36)),
    Index("ix_logged_model_metrics_model_key", "logged_model_id", "key"),
)

# A run's model outputs (``runs/outputs``) and model inputs (``runs/log-inputs`` models).
run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "logged_model_id",
        Integer,
        ForeignKey("logged_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("step", BigInteger, nullable=False),
)

run_model_inputs = Table(
    "run_model_inputs",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "logged_model_id",
        Integer,
        ForeignKey("logged_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)

# -- model registry (revision 0002) --------------------------------------------------------------
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    # The highest version number ever handed out: numbers of deleted versions are not reused.
    Column("last_version", Integer, nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "registered_model_id",
        Integer,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "registered_model_id",
        Integer,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("current_stage", String(20), nullable=False),
    Column("source", Text, nullable=False),
    # Where the files are, resolved from ``source`` when the version is created.
    Column("storage_location", Text, nullable=False),
    Column("run_id", String(32)),
    Column("run_link", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_message", Text, nullable=False),
    Column("model_id", String(34)),
    UniqueConstraint("registered_model_id", "version", name="uq_model_versions_version"),
    Index("ix_model_versions_run", "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column(
        "model_version_id",
        Integer,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column(
        "registered_model_id",
        Integer,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(255), primary_key=True),
    # Deleting a version drops the aliases that point at it.
    Column(
        "model_version_id",
        Integer,
        ForeignKey("model_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
)


# -- journals and leases (revision 0003) ---------------------------------------------------------
journals = Table(
    "journals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("length", BigInteger, nullable=False),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("journal_id", Integer, ForeignKey("journals.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("data", Text, nullable=False),
    # Set on the first entry of an idempotent append: a retry with the same id is a no-op.
    Column("append_id", String(64)),
    UniqueConstraint("journal_id", "append_id", name="uq_journal_entries_append"),
)

leases = Table(
    "leases",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_time", BigInteger, nullable=False),
    Column("expires_time", BigInteger, nullable=False),
)


def applies_to(obj: Any, dialect: str) -> bool:
    """Whether a schema item (an index declared with ``ddl_if``) exists on ``dialect``: Alembic's
    comparison does not know ``ddl_if``, so the schema test asks this."""
    condition = getattr(obj, "_ddl_if", None)
    return condition is None or condition.dialect in (None, dialect)
