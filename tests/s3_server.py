"""A real S3-compatible server on 127.0.0.1 for the tests and benchmarks: moto's server
mode (`moto[server]`, a dev dependency), in a process of its own so that the objects it
keeps are not in the memory of the process measured or tested, and so that it can be
stopped.

`locked=True` starts it with its IAM checks on (moto's INITIAL_NO_AUTH_ACTION_COUNT):
the first few requests set up two users, one that may do anything and one that may do
anything but write objects (an explicit Deny of s3:PutObject), the real AccessDenied of
a bucket that refuses writes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import boto3
import requests

REGION = "us-east-1"
# The IAM requests a locked server answers without credentials: 2 users x 3 requests.
_SETUP_REQUESTS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str


class S3Server:
    def __init__(self, *, locked: bool = False) -> None:
        self.locked = locked
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        # Unlocked, moto takes any keys; locked, these are replaced by real users' keys.
        self.keys = Keys("retouch-test", "retouch-test-secret")
        self.read_only_keys = self.keys

    def start(self, timeout: float = 30) -> S3Server:
        env = {**os.environ, "MOTO_PORT": str(self.port)}
        if self.locked:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_SETUP_REQUESTS)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(f"{self.endpoint}/moto-api/", timeout=2)
                break
            except requests.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.05)
        if self.locked:
            self.keys = self._user("retouch-app", deny_writes=False)
            self.read_only_keys = self._user("retouch-no-writes", deny_writes=True)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def _user(self, name: str, *, deny_writes: bool) -> Keys:
        iam = self.client("iam", Keys("setup", "setup"))
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        statements = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        if deny_writes:
            statements.append({"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"})
        policy = {"Version": "2012-10-17", "Statement": statements}
        iam.put_user_policy(UserName=name, PolicyName="media", PolicyDocument=json.dumps(policy))
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])

    def client(self, service: str = "s3", keys: Keys | None = None):
        keys = keys or self.keys
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=keys.access_key,
            aws_secret_access_key=keys.secret_key,
        )

    def new_bucket(self) -> str:
        name = f"media-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys_in(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def object(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def storage_options(self, bucket: str, keys: Keys | None = None, **more) -> dict:
        """MEDIA_STORAGE_OPTIONS for `bucket` on this server."""
        keys = keys or self.keys
        return {
            "bucket_name": bucket,
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "access_key": keys.access_key,
            "secret_key": keys.secret_key,
            **more,
        }


def unreachable_options(bucket: str) -> dict:
    """Storage options naming a port nothing listens on, retried once, not three times."""
    from botocore.config import Config

    return {
        "bucket_name": bucket,
        "endpoint_url": f"http://127.0.0.1:{_free_port()}",
        "region_name": REGION,
        "access_key": "retouch-test",
        "secret_key": "retouch-test-secret",
        "client_config": Config(retries={"mode": "standard", "max_attempts": 1}),
    }
