"""tracking.py against a fake MLflow tracking server (stdlib http.server on loopback)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ml_platform.jobs.training_pipeline import tracking

ARN = "arn:aws:sagemaker:eu-west-1:111111111111:mlflow-tracking-server/t-dev-mlflow"
CREDENTIALS = Credentials("AKIDEXAMPLE", "secret-example", "token-example")


class FakeMlflow:
    """Records each request; answers like an MLflow server with the experiments in ``experiments``."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.experiments: dict[str, str] = {}
        self.failures: list[int] = []  # HTTP statuses to answer before the next real answer
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append({"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body})
                if fake.failures:
                    return self._answer(fake.failures.pop(0), {"error_code": "TEMPORARILY_UNAVAILABLE",
                                                               "message": "try again"})
                route = urlsplit(self.path).path.removeprefix(tracking.API_PATH)
                data = json.loads(body) if body else {}
                if route == "experiments/get-by-name":
                    name = parse_qs(urlsplit(self.path).query)["experiment_name"][0]
                    if name not in fake.experiments:
                        return self._answer(404, {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                                  "message": f"Could not find experiment with name '{name}'"})
                    return self._answer(200, {"experiment": {"experiment_id": fake.experiments[name], "name": name}})
                if route == "experiments/create":
                    fake.experiments[data["name"]] = str(len(fake.experiments) + 1)
                    return self._answer(200, {"experiment_id": fake.experiments[data["name"]]})
                if route == "runs/create":
                    return self._answer(200, {"run": {"info": {"run_id": "run-1", "experiment_id": data["experiment_id"]}}})
                if route in ("runs/log-batch", "runs/update"):
                    return self._answer(200, {})
                return self._answer(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": route})

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def calls(self) -> list[tuple[str, str]]:
        return [(r["method"], urlsplit(r["path"]).path.removeprefix(tracking.API_PATH)) for r in self.requests]

    def bodies(self, route: str) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests
                if urlsplit(r["path"]).path.endswith(route) and r["body"]]


@pytest.fixture
def fake():
    server = FakeMlflow()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def client(fake, **options) -> tracking.TrackingClient:
    return tracking.TrackingClient(ARN, endpoint=fake.url, credentials=CREDENTIALS, sleep=lambda _: None, **options)


def verify_signature(request: dict, url: str, secret: str) -> bool:
    """Recompute the SigV4 signature of a received request from its signed headers."""
    authorization = request["headers"]["authorization"]
    signed = re.search(r"SignedHeaders=([^,]+)", authorization).group(1).split(";")
    headers = {k: v for k, v in request["headers"].items() if k in signed}
    again = AWSRequest(method=request["method"], url=url + request["path"], data=request["body"] or None,
                       headers=headers)
    again.context["timestamp"] = request["headers"]["x-amz-date"]
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", secret, "token-example"), tracking.SERVICE, "eu-west-1")
    signature = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
    return authorization.endswith(f"Signature={signature}")


def test_the_address_is_the_regional_experiments_host_of_the_arn():
    assert tracking.tracking_url(ARN) == "https://eu-west-1.experiments.sagemaker.aws"
    gov = "arn:aws-us-gov:sagemaker:us-gov-west-1:111111111111:mlflow-tracking-server/x"
    assert tracking.tracking_url(gov) == "https://us-gov-west-1.experiments.sagemaker.aws"


@pytest.mark.parametrize(("arn", "message"), [
    ("arn:aws:sagemaker:eu-west-1:111111111111:model/x", "is not a tracking server ARN"),
    ("arn:aws:s3:::bucket", "is not a tracking server ARN"),
    ("arn:aws:sagemaker:eu-west-1:111111111111:mlflow-tracking-server/", "is not a tracking server ARN"),
    ("arn:aws-cn:sagemaker:cn-north-1:111111111111:mlflow-tracking-server/x", "partition 'aws-cn'"),
])
def test_a_bad_arn_is_refused_in_one_line(arn, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tracking.tracking_url(arn)


def test_a_run_is_created_logged_and_finished_with_signed_requests(fake):
    times = iter([1000.0, 1005.0])
    run = tracking.log_run(client(fake), experiment="t-dev-churn", run_name="exec-1",
                           params={"algorithm": "xgboost", "max_depth": "5"},
                           metrics={"auc": 0.91, "f1": float("nan")}, tags={"pipeline": "t-dev-churn"},
                           clock=lambda: next(times))
    assert run == "run-1"
    assert fake.calls() == [("GET", "experiments/get-by-name"), ("POST", "experiments/create"),
                            ("POST", "runs/create"), ("POST", "runs/log-batch"), ("POST", "runs/update")]
    assert fake.bodies("experiments/create") == [{"name": "t-dev-churn"}]
    [create] = fake.bodies("runs/create")
    assert create == {"experiment_id": "1", "run_name": "exec-1", "start_time": 1000000,
                      "tags": [{"key": "mlflow.runName", "value": "exec-1"}]}
    [batch] = fake.bodies("runs/log-batch")
    assert batch["run_id"] == "run-1"
    assert batch["params"] == [{"key": "algorithm", "value": "xgboost"}, {"key": "max_depth", "value": "5"}]
    assert batch["metrics"] == [{"key": "auc", "value": 0.91, "timestamp": 1000000, "step": 0}]  # NaN left out
    assert batch["tags"] == [{"key": "pipeline", "value": "t-dev-churn"}]
    assert fake.bodies("runs/update") == [{"run_id": "run-1", "status": "FINISHED", "end_time": 1005000}]
    for request in fake.requests:
        headers = request["headers"]
        assert headers[tracking.ARN_HEADER] == ARN
        assert headers["x-amz-security-token"] == "token-example"
        assert re.match(r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/eu-west-1/sagemaker-mlflow/aws4_request, "
                        r"SignedHeaders=[^,]*x-mlflow-sm-tracking-server-arn", headers["authorization"])
        assert verify_signature(request, fake.url, "secret-example")
        assert not verify_signature(request, fake.url, "another-secret")


def test_an_existing_experiment_is_reused_and_its_name_is_encoded(fake):
    fake.experiments["churn model"] = "7"
    tracking.log_run(client(fake), experiment="churn model", run_name="r", metrics={"auc": 0.8})
    assert fake.calls()[:2] == [("GET", "experiments/get-by-name"), ("POST", "runs/create")]
    assert fake.requests[0]["path"].endswith("?experiment_name=churn%20model")
    assert fake.bodies("runs/create")[0]["experiment_id"] == "7"


def test_batches_keep_to_mlflows_limits_per_request():
    params = {f"p{i}": str(i) for i in range(150)}
    metrics = {f"m{i}": float(i) for i in range(1500)}
    found = tracking.batches(params, metrics, {"t": "1"}, 0)
    assert all(len(b.get("params", ())) <= 100 and len(b.get("metrics", ())) <= 1000 and len(b.get("tags", ())) <= 100
               and sum(map(len, b.values())) <= 1000 for b in found)
    assert sum(len(b.get("params", ())) for b in found) == 150
    assert sum(len(b.get("metrics", ())) for b in found) == 1500
    assert [t for b in found for t in b.get("tags", ())] == [{"key": "t", "value": "1"}]


def test_throttling_is_retried_and_a_refusal_names_the_call_and_mlflows_error(fake):
    fake.failures = [503]
    tracking.log_run(client(fake), experiment="e", run_name="r")
    assert fake.calls()[:2] == [("GET", "experiments/get-by-name"), ("GET", "experiments/get-by-name")]
    fake.failures = [403] * 5
    with pytest.raises(tracking.TrackingError, match=r"^GET experiments/get-by-name: HTTP 403 "
                                                     r"TEMPORARILY_UNAVAILABLE: try again$"):
        tracking.log_run(client(fake), experiment="e", run_name="r")


def test_a_failed_log_marks_the_run_failed(fake):
    calls = []

    class Failing(tracking.TrackingClient):
        def call(self, method, path, body=None, query=None):
            calls.append(path)
            if path == "runs/log-batch":
                raise tracking.TrackingError("POST runs/log-batch: HTTP 400 INVALID_PARAMETER_VALUE: too long")
            return super().call(method, path, body, query)

    failing = Failing(ARN, endpoint=fake.url, credentials=CREDENTIALS)
    with pytest.raises(tracking.TrackingError, match="INVALID_PARAMETER_VALUE"):
        tracking.log_run(failing, experiment="e", run_name="r", params={"a": "b"})
    assert calls[-1] == "runs/update" and fake.bodies("runs/update")[0]["status"] == "FAILED"


def test_no_answer_says_which_endpoint_an_isolated_subnet_needs():
    unreachable = tracking.TrackingClient(ARN, endpoint="http://127.0.0.1:9", credentials=CREDENTIALS,
                                          sleep=lambda _: None, timeout=2)
    with pytest.raises(tracking.TrackingError, match=r"aws\.sagemaker\.<region>\.experiments endpoint"):
        unreachable.call("GET", "experiments/get-by-name", query={"experiment_name": "e"})


def evaluation_folder(tmp_path):
    (tmp_path / "model-quality").mkdir()
    (tmp_path / "evaluation.json").write_text(json.dumps({"metrics": {"auc": {"value": 0.9}}}))
    (tmp_path / "model-quality" / "statistics.json").write_text(json.dumps({"binary_classification_metrics": {
        "confusion_matrix": {"0": {"0": 1, "1": 0}, "1": {"0": 0, "1": 1}},
        "accuracy": {"value": 0.75, "standard_deviation": "NaN"}, "f1": {"value": 0.5}}}))
    return tmp_path


def test_the_command_line_logs_the_evaluate_steps_metrics_and_given_params(fake, tmp_path):
    folder = evaluation_folder(tmp_path)
    assert tracking.evaluation_metrics(folder) == {"accuracy": 0.75, "f1": 0.5, "auc": 0.9}
    code = tracking.main(["--server-arn", ARN, "--experiment", "t-dev-churn", "--run-name", "exec-9",
                          "--evaluation", str(folder), "--param", "algorithm=xgboost", "--tag", "execution=arn:x=y"],
                         client=client(fake))
    assert code == 0
    [batch] = fake.bodies("runs/log-batch")
    assert {m["key"]: m["value"] for m in batch["metrics"]} == {"accuracy": 0.75, "f1": 0.5, "auc": 0.9}
    assert batch["params"] == [{"key": "algorithm", "value": "xgboost"}]
    assert batch["tags"] == [{"key": "execution", "value": "arn:x=y"}]


def test_best_effort_warns_instead_of_failing(fake, capsys):
    fake.failures = [403]
    args = ["--server-arn", ARN, "--experiment", "e", "--run-name", "r"]
    with pytest.raises(tracking.TrackingError):
        tracking.main(args, client=client(fake))
    fake.failures = [403]
    assert tracking.main([*args, "--best-effort"], client=client(fake)) == 0
    assert "experiment tracking skipped: GET experiments/get-by-name: HTTP 403" in capsys.readouterr().err


def test_a_param_without_a_value_is_refused():
    with pytest.raises(SystemExit, match="--param 'algorithm' is not KEY=VALUE"):
        tracking.main(["--server-arn", ARN, "--experiment", "e", "--run-name", "r", "--param", "algorithm"],
                      client=object())  # never called


def test_an_experiment_another_run_created_meanwhile_is_found_again():
    answers = [tracking.TrackingError("GET: 404", "RESOURCE_DOES_NOT_EXIST"),
               tracking.TrackingError("POST: 400", "RESOURCE_ALREADY_EXISTS"),
               {"experiment": {"experiment_id": "4"}}]

    class Scripted(tracking.TrackingClient):
        def call(self, method, path, body=None, query=None):
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

    assert tracking.experiment_id(Scripted(ARN, credentials=CREDENTIALS), "e") == "4" and not answers
