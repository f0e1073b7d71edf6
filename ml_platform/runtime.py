"""Where the runtime code the constructs ship as assets lives inside the package, and the Lambda
runtime it runs on."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_

#: The installed ``ml_platform`` package.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Lambda functions, one folder each (``handler.py`` and its logic).
LAMBDAS_DIR = PACKAGE_DIR / "lambdas"
#: Other runtime code: Glue job scripts, training pipeline step scripts, the labeling task UI.
JOBS_DIR = PACKAGE_DIR / "jobs"
#: Python runtime of the platform's functions (the latest aws-cdk-lib knows and Lambda supports).
RUNTIME = lambda_.Runtime.PYTHON_3_14
