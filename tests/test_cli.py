from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from runbase import Client
from runbase.cli import main


def _filled(tmp_path: Path) -> tuple[str, str]:
    uri = str(tmp_path / "cli.db")
    client = Client(uri)
    exp = client.create_experiment("cli-exp")
    keep = ""
    for bs, score in (("16", 0.6), ("24", 0.8)):
        run = client.create_run(exp, run_name=f"bs{bs}")
        client.log_params(run.info.run_id, {"batch_size": bs})
        client.log_metric(run.info.run_id, "val_map", score, synchronous=True)
        keep = run.info.run_id
    client.close()
    return uri, keep


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("experiments", "runs", "db"):
        assert command in result.output


def test_experiments_and_runs(tmp_path: Path) -> None:
    uri, run_id = _filled(tmp_path)
    runner = CliRunner()
    out = runner.invoke(main, ["experiments", "list", "--tracking-uri", uri])
    assert out.exit_code == 0 and "cli-exp" in out.output and "Default" in out.output
    out = runner.invoke(
        main,
        [
            "runs",
            "list",
            "--tracking-uri",
            uri,
            "-e",
            "cli-exp",
            "-f",
            "metrics.val_map > 0.7",
            "-c",
            "metrics.val_map",
            "-c",
            "params.batch_size",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "bs24" in out.output and "bs16" not in out.output and "0.8" in out.output
    out = runner.invoke(main, ["runs", "list", "--tracking-uri", uri, "-o", "metrics.val_map ASC"])
    assert out.output.index("bs16") < out.output.index("bs24")
    out = runner.invoke(main, ["runs", "show", run_id, "--tracking-uri", uri])
    assert out.exit_code == 0 and "val_map" in out.output and "batch_size" in out.output


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    uri, _ = _filled(tmp_path)
    out = CliRunner().invoke(main, ["runs", "list", "--tracking-uri", uri, "-f", "params.x = 3"])
    assert out.exit_code == 1
    assert "Error:" in out.output and "Traceback" not in out.output
    out = CliRunner().invoke(main, ["runs", "show", "0" * 32, "--tracking-uri", uri])
    assert out.exit_code == 1 and "not found" in out.output


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    uri = str(tmp_path / "fresh.db")
    for _ in range(2):
        out = CliRunner().invoke(main, ["db", "upgrade", "--tracking-uri", uri])
        assert out.exit_code == 0 and "revision" in out.output


def test_server_help_and_bad_store(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["server", "--help"])
    assert out.exit_code == 0
    for option in ("--backend-store-uri", "--artifacts-destination", "--workers", "--port"):
        assert option in out.output
    # A bad store fails at once with one clear line, before any worker starts.
    out = runner.invoke(main, ["server", "--backend-store-uri", "mysql://nope/db"])
    assert out.exit_code == 1
    assert "Unsupported tracking URI" in out.output
