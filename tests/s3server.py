"""A local S3-compatible server for the test session: moto's, on loopback in a thread.

The S3 tests run against it over HTTP, as they would against MinIO or S3 itself; nothing of S3 is
mocked in runbase. ``S3_ENV`` is what points boto3 (and so runbase, and a ``runbase server``
subprocess) at it, with moto's dummy credentials.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # No profile, config file or instance metadata of the machine may leak into the tests.
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: Variables of the machine that would point boto3 elsewhere.
CLEARED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@contextmanager
def s3_server() -> Iterator[str]:
    """Start moto's server on a free loopback port; yield its URL; stop it after."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket(client: Any) -> str:
    """Create a bucket of its own for one test."""
    name = f"runbase-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    return name


def all_keys(client: Any, bucket: str) -> dict[str, bytes]:
    """Every object of the bucket: key → content."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", ()):
            out[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out
