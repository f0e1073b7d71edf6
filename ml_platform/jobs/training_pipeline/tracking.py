"""Log one pipeline run's parameters and metrics to a SageMaker managed MLflow tracking server.

The images the pipeline runs in have no ``mlflow`` package, so this posts to the MLflow REST API
itself (``experiments/get-by-name``, ``experiments/create``, ``runs/create``, ``runs/log-batch``,
``runs/update``) at ``https://<region>.experiments.sagemaker.aws``, the address AWS's
``sagemaker-mlflow`` plugin derives from the server ARN, signed with SigV4 for the service
``sagemaker-mlflow`` (botocore only) and naming the server in the ``x-mlflow-sm-tracking-server-arn``
header. In the platform's isolated subnets that address resolves through the
``aws.sagemaker.<region>.experiments`` interface endpoint::

    python3 tracking.py --server-arn ARN --experiment NAME --run-name NAME \
        [--evaluation DIR] [--param KEY=VALUE ...] [--tag KEY=VALUE ...] [--best-effort]

``--evaluation`` names the Evaluate step's output folder: its ``evaluation.json`` metrics and the
model quality statistics in ``model-quality/statistics.json`` are logged as metrics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: The SigV4 signing name of the MLflow data plane (the ``sagemaker-mlflow`` IAM service prefix).
SERVICE = "sagemaker-mlflow"
#: The header that routes a request to one tracking server.
ARN_HEADER = "x-mlflow-sm-tracking-server-arn"
API_PATH = "/api/2.0/mlflow/"
#: MLflow's limits of one ``runs/log-batch`` request.
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ITEMS = 1000, 100, 100, 1000
#: Partitions whose tracking servers answer under ``sagemaker.aws`` (as in the sagemaker-mlflow plugin).
DNS_SUFFIXES = {"aws": "aws", "aws-us-gov": "aws"}
#: Attempts of a request that failed with a throttling or server error, or no answer.
ATTEMPTS = 3
TIMEOUT_SECONDS = 30
MODEL_QUALITY_STATISTICS = Path("model-quality") / "statistics.json"


class TrackingError(RuntimeError):
    """A request the tracking server refused or did not answer; ``error_code`` is MLflow's
    (``RESOURCE_DOES_NOT_EXIST``, ...) or ``""``."""

    def __init__(self, message: str, error_code: str = "") -> None:
        super().__init__(message)
        self.error_code = error_code


def parse_server_arn(arn: str) -> tuple[str, str]:
    """``(partition, region)`` of a tracking server ARN.

    :raises ValueError: naming the ARN, if it is not ``arn:<partition>:sagemaker:<region>:<account>:
        mlflow-tracking-server/<name>``.
    """
    parts = arn.split(":", 5)
    if (len(parts) != 6 or parts[0] != "arn" or parts[2] != "sagemaker" or not parts[3]
            or not parts[5].startswith("mlflow-tracking-server/") or parts[5] == "mlflow-tracking-server/"):
        raise ValueError(f"{arn!r} is not a tracking server ARN "
                         "(arn:aws:sagemaker:<region>:<account>:mlflow-tracking-server/<name>)")
    return parts[1], parts[3]


def tracking_url(server_arn: str) -> str:
    """``https://<region>.experiments.sagemaker.<suffix>`` of the server.

    :raises ValueError: for a malformed ARN or a partition without managed MLflow.
    """
    partition, region = parse_server_arn(server_arn)
    suffix = DNS_SUFFIXES.get(partition)
    if suffix is None:
        raise ValueError(f"partition {partition!r} of {server_arn!r} has no managed MLflow address known here; "
                         f"known: {', '.join(DNS_SUFFIXES)}")
    return f"https://{region}.experiments.sagemaker.{suffix}"


class TrackingClient:
    """Signed calls of the MLflow REST API of one tracking server.

    :param server_arn: the server's ARN (``ExperimentTracking.server_arn``).
    :param endpoint: base URL. Default: :func:`tracking_url` of the ARN.
    :param credentials: botocore credentials. Default: those botocore finds (in a SageMaker job,
        the job's role).
    :param sleep: waits between attempts (tests pass a no-op). Default: ``time.sleep``.
    """

    def __init__(self, server_arn: str, *, endpoint: str | None = None, credentials: Any = None,
                 timeout: float = TIMEOUT_SECONDS, sleep: Callable[[float], None] = time.sleep) -> None:
        from botocore.auth import SigV4Auth  # botocore: in every SageMaker image with boto3

        _, region = parse_server_arn(server_arn)
        self.server_arn = server_arn
        self.url = (endpoint or tracking_url(server_arn)).rstrip("/")
        if credentials is None:
            import botocore.session

            credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise TrackingError("no AWS credentials found to sign requests to the tracking server")
        self._signer = SigV4Auth(credentials, SERVICE, region)
        self._timeout, self._sleep = timeout, sleep

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None,
             query: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``method`` ``<API_PATH><path>`` with a JSON ``body`` or a ``query``; the JSON answer.

        :raises TrackingError: on an error answer (after :data:`ATTEMPTS` for throttling, server
            errors and no answer), naming the call, the HTTP status and MLflow's error.
        """
        url = f"{self.url}{API_PATH}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)  # %20, as SigV4 encodes
        data = json.dumps(body).encode() if body is not None else b""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with urllib.request.urlopen(self._signed(method, url, data), timeout=self._timeout) as answer:
                    text = answer.read()
                return json.loads(text) if text else {}
            except urllib.error.HTTPError as error:
                payload = _error_payload(error)
                retry = error.code == 429 or error.code >= 500
                if not retry or attempt == ATTEMPTS:
                    raise TrackingError(
                        f"{method} {path}: HTTP {error.code} {payload.get('error_code', '')}: "
                        f"{payload.get('message', error.reason)}".replace("  ", " "),
                        payload.get("error_code", "")) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == ATTEMPTS:
                    reason = getattr(error, "reason", error)
                    raise TrackingError(f"{method} {path}: no answer from {self.url} ({reason}); in an isolated "
                                        "subnet, is the aws.sagemaker.<region>.experiments endpoint there?") from None
            self._sleep(2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _signed(self, method: str, url: str, data: bytes) -> urllib.request.Request:
        from botocore.awsrequest import AWSRequest

        headers = {"Content-Type": "application/json", ARN_HEADER: self.server_arn,
                   "X-Amz-Content-SHA256": hashlib.sha256(data).hexdigest()}
        request = AWSRequest(method=method, url=url, data=data or None, headers=headers)
        self._signer.add_auth(request)  # signs again on every attempt: X-Amz-Date is current
        return urllib.request.Request(url, data=data or None, method=method, headers=dict(request.headers.items()))


def _error_payload(error: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        payload = json.loads(error.read() or b"{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def experiment_id(client: TrackingClient, name: str) -> str:
    """The ID of experiment ``name``, created if it does not exist."""
    try:
        return _existing(client, name)
    except TrackingError as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        return str(client.call("POST", "experiments/create", {"name": name})["experiment_id"])
    except TrackingError as error:  # another run created it in between
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return _existing(client, name)


def _existing(client: TrackingClient, name: str) -> str:
    found = client.call("GET", "experiments/get-by-name", query={"experiment_name": name})
    return str(found["experiment"]["experiment_id"])


def batches(params: Mapping[str, str], metrics: Mapping[str, float], tags: Mapping[str, str],
            timestamp_ms: int) -> list[dict[str, list[dict[str, Any]]]]:
    """``runs/log-batch`` bodies (without ``run_id``) within MLflow's limits per request."""
    items = ([("params", {"key": k, "value": str(v)}) for k, v in params.items()]
             + [("metrics", {"key": k, "value": float(v), "timestamp": timestamp_ms, "step": 0})
                for k, v in metrics.items()]
             + [("tags", {"key": k, "value": str(v)}) for k, v in tags.items()])
    limits = {"params": MAX_PARAMS, "metrics": MAX_METRICS, "tags": MAX_TAGS}
    found: list[dict[str, list[dict[str, Any]]]] = []
    current: dict[str, list[dict[str, Any]]] = {}
    for kind, item in items:
        if not found or len(current.get(kind, ())) == limits[kind] or sum(map(len, current.values())) == MAX_ITEMS:
            current = {}
            found.append(current)
        current.setdefault(kind, []).append(item)
    return found


def log_run(client: TrackingClient, *, experiment: str, run_name: str, params: Mapping[str, str] | None = None,
            metrics: Mapping[str, float] | None = None, tags: Mapping[str, str] | None = None,
            clock: Callable[[], float] = time.time) -> str:
    """Create run ``run_name`` in ``experiment``, log ``params``, ``metrics`` (finite values only,
    MLflow's JSON has no NaN) and ``tags``, and mark it FINISHED; return its ID. A run whose logging
    fails is marked FAILED before the error is raised."""
    start = int(clock() * 1000)
    found = experiment_id(client, experiment)
    run = client.call("POST", "runs/create", {"experiment_id": found, "run_name": run_name, "start_time": start,
                                             "tags": [{"key": "mlflow.runName", "value": run_name}]})
    run_id = str(run["run"]["info"]["run_id"])
    finite = {k: v for k, v in (metrics or {}).items() if math.isfinite(v)}
    status = "FAILED"
    try:
        for batch in batches(params or {}, finite, tags or {}, start):
            client.call("POST", "runs/log-batch", {"run_id": run_id, **batch})
        status = "FINISHED"
    finally:
        client.call("POST", "runs/update", {"run_id": run_id, "status": status, "end_time": int(clock() * 1000)})
    return run_id


def evaluation_metrics(folder: Path) -> dict[str, float]:
    """The metrics of the Evaluate step's output ``folder``: ``evaluation.json``'s and, where
    written, the model quality statistics' (``binary_classification_metrics``, numbers only)."""
    metrics: dict[str, float] = {}
    quality = folder / MODEL_QUALITY_STATISTICS
    if quality.is_file():
        document = json.loads(quality.read_text())
        for name, entry in document.get("binary_classification_metrics", {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("value"), (int, float)):
                metrics[name] = float(entry["value"])
    report = json.loads((folder / "evaluation.json").read_text())
    for name, entry in report.get("metrics", {}).items():
        metrics[name] = float(entry["value"])
    return metrics


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise SystemExit(f"{option} {value!r} is not KEY=VALUE")
        found[key] = rest
    return found


def main(argv: Sequence[str] | None = None, *, client: TrackingClient | None = None) -> int:
    """The command line (see the module docstring); 0 when logged, or with ``--best-effort`` also
    when the server failed (the error is printed to stderr)."""
    parser = argparse.ArgumentParser(description="Log a pipeline run to a SageMaker managed MLflow tracking server")
    parser.add_argument("--server-arn", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--run-name", required=True)
    parser.add_argument("--evaluation", type=Path, help="the Evaluate step's output folder")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--best-effort", action="store_true", help="warn instead of failing when the server fails")
    args = parser.parse_args(argv)
    metrics = evaluation_metrics(args.evaluation) if args.evaluation else {}
    try:
        run_id = log_run(client or TrackingClient(args.server_arn), experiment=args.experiment,
                         run_name=args.run_name, params=_pairs(args.param, "--param"), metrics=metrics,
                         tags=_pairs(args.tag, "--tag"))
    except TrackingError as error:
        if not args.best_effort:
            raise
        print(f"experiment tracking skipped: {error}", file=sys.stderr)
        return 0
    print(f"logged run {run_id} of experiment {args.experiment!r}: {len(metrics)} metrics")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
