"""The web UI behind ``--auth-tokens-file``: the browser is asked for the token (HTTP Basic, as
password) and then every page and API call goes through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

import runbase
from server.live import run_server

TOKEN = "rb-ui-token-0123456789abcdef"


def test_ui_needs_the_token_and_works_with_it(browser: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN}\n")
    db = tmp_path / "runs.db"
    client = runbase.Client(str(db))
    client.create_experiment("guarded-ui")
    client.close()
    with run_server(f"sqlite:///{db}", tmp_path, "--auth-tokens-file", str(tokens)) as server:
        anonymous = browser.new_context()
        for path in ("/", "/api/v1/ui/experiments"):
            answer = anonymous.request.get(server.url + path)
            assert answer.status == 401 and "guarded-ui" not in answer.text()
            assert answer.headers["www-authenticate"].startswith("Basic")
        page = anonymous.new_page()
        with pytest.raises(PlaywrightError, match="AUTH"):  # the challenge, with nothing to answer
            page.goto(server.url + "/")
        anonymous.close()

        signed_in = browser.new_context(http_credentials={"username": "me", "password": TOKEN})
        page = signed_in.new_page()
        page.goto(server.url + "/")
        page.get_by_role("link", name="guarded-ui").wait_for(timeout=15_000)
        signed_in.close()
