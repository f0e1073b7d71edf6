"""Before `make diff` / `make deploy`: check AWS credentials, the target account and CDK bootstrap.

Prints one clear line and exits 1 when something is missing, instead of a CDK stack trace.
Usage: python tools/preflight.py config/<env>.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_platform.config import ConfigError, load_environment  # noqa: E402

#: SSM parameter the default CDK bootstrap stack (qualifier hnb659fds) writes.
BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


def main(path: Path) -> int:
    try:
        config = load_environment(path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    session = boto3.Session(region_name=config.region)
    try:
        identity = session.client("sts").get_caller_identity()
    except (NoCredentialsError, BotoCoreError, ClientError) as error:
        print(
            f"{config.name}: no usable AWS credentials ({error}). Configure credentials for account "
            f"{config.account} (e.g. AWS_PROFILE or aws sso login) and try again.",
            file=sys.stderr,
        )
        return 1
    if identity["Account"] != config.account:
        print(
            f"{config.name}: your credentials are for account {identity['Account']}, but {path} "
            f"deploys to account {config.account}. Switch profile or fix 'account'.",
            file=sys.stderr,
        )
        return 1
    try:
        session.client("ssm").get_parameter(Name=BOOTSTRAP_PARAMETER)
    except ClientError as error:
        print(
            f"{config.name}: account {config.account} in {config.region} is not CDK-bootstrapped "
            f"({error.response['Error']['Code']} reading {BOOTSTRAP_PARAMETER}). Run: "
            f"npx cdk bootstrap aws://{config.account}/{config.region}",
            file=sys.stderr,
        )
        return 1
    print(f"{config.name}: account {config.account}, region {config.region}, bootstrapped.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python tools/preflight.py config/<env>.yaml", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(Path(sys.argv[1])))
