"""FeedbackLoop: its schedule, hand-off locations and least-privilege role, and the seam to its Lambda.

The seam tests take the function's synthesized environment (bucket tokens replaced by fixed fake
names), parse it with the ground truth merge's own ``MergeConfig.from_environment`` and run the
merge against moto's S3 with it: what the construct configures is what the Lambda accepts, and
what the Lambda then reads and writes is exactly what the construct's role permits.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from moto import mock_aws

from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.monitoring.feedback_loop import MERGE_MINUTE, FeedbackLoop
from ml_platform.constructs.preparation.glue_security import allow_cloudwatch_logs
from ml_platform.constructs.lake.lake_locations import DAILY, HOURLY, LakeDataset
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.monitoring.monitor_settings import FeedbackSettings
from ml_platform.lambdas.ground_truth_merge.merge import Location, MergeConfig, merge
from tests.conftest import assert_gates_pass, synth_gated
from tests.iam_eval import BUCKETS, LAKE_KEY_ARN, Resolver, obj, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
ENDPOINT, MODEL = "t-churn", "churn"
CAPTURE = LakeDataset(Zone.RAW, f"data-capture/{ENDPOINT}/", "capture", ("variant", *HOURLY))
FEEDBACK = LakeDataset(Zone.CURATED, f"{MODEL}/feedback/", "training-csv", DAILY, producer="training pipeline")
LABELS = {"zone": "raw", "prefix": f"labels/{ENDPOINT}/"}
#: The fixed names the lake's tokens resolve to in these tests.


def build(scope, *, endpoint_name=ENDPOINT, capture=CAPTURE, labels=None, lookback_days=None):
    """A FeedbackLoop with its lake in the same stack (so that the lake's tokens are local Refs)."""
    stack = Stack(scope, "Monitoring", env=ENV)
    lake = DataLake(stack, "Lake")
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    allow_cloudwatch_logs(key)
    settings = {"labels": labels or LABELS}
    if lookback_days is not None:
        settings["lookback_days"] = lookback_days
    loop = FeedbackLoop(stack, "Feedback", endpoint_name=endpoint_name, model=MODEL, capture=capture,
                        feedback=FEEDBACK, settings=FeedbackSettings.model_validate(settings), lake=lake,
                        network=network, key=key)
    return stack, lake, key, loop


@pytest.fixture(scope="module")
def synthesized():
    stack, lake, key, loop = build(App())
    found = Template.from_stack(stack).to_json()["Resources"]
    resolve = Resolver(stack, lake, ENV)

    def resource(construct):
        return found[stack.resolve(construct.node.default_child.logical_id)]

    return {"stack": stack, "loop": loop, "key": key, "found": found, "resource": resource, "resolve": resolve,
            "environment": resolve(resource(loop.function)["Properties"]["Environment"]["Variables"]),
            "policy": resolve(resource(loop.role.policy)["Properties"]["PolicyDocument"])}


# --- defaults ------------------------------------------------------------------------------------


def test_merge_runs_hourly_at_the_documented_minute_on_the_function(synthesized):
    loop, stack, found = synthesized["loop"], synthesized["stack"], synthesized["found"]
    assert MERGE_MINUTE == 15
    rule = synthesized["resource"](loop.schedule)["Properties"]
    assert rule["ScheduleExpression"] == "cron(15 * * * ? *)" and rule["State"] == "ENABLED"
    function_id = stack.resolve(loop.function.node.default_child.logical_id)
    assert [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": [function_id, "Arn"]}]
    rule_id = stack.resolve(loop.schedule.node.default_child.logical_id)
    [permission] = [r["Properties"] for r in found.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_function_is_single_flight_with_five_minutes_in_the_vpc_and_an_encrypted_environment(synthesized):
    loop, stack = synthesized["loop"], synthesized["stack"]
    props = synthesized["resource"](loop.function)["Properties"]
    assert (props["ReservedConcurrentExecutions"], props["Timeout"], props["Handler"]) == (1, 300, "handler.on_event")
    assert props["KmsKeyArn"] == {"Fn::GetAtt": [stack.resolve(synthesized["key"].node.default_child.logical_id), "Arn"]}
    assert len(props["VpcConfig"]["SubnetIds"]) == 2
    assert props["Role"] == {"Fn::GetAtt": [stack.resolve(loop.role.node.default_child.logical_id), "Arn"]}


def test_ground_truth_and_labels_are_the_documented_hand_offs(synthesized):
    loop = synthesized["loop"]
    assert loop.ground_truth == LakeDataset(Zone.CURATED, f"{MODEL}/ground-truth/{ENDPOINT}/", "ground-truth",
                                            HOURLY, producer=f"feedback loop of {ENDPOINT}")
    assert loop.labels == LakeDataset.landing(Zone.RAW, f"labels/{ENDPOINT}/", "jsonl")
    assert (loop.capture, loop.feedback) == (CAPTURE, FEEDBACK)


# --- IAM -------------------------------------------------------------------------------------------


HOUR_PATH = "2026/11/29/13/"
ALLOWED = [
    ("s3:GetObject", obj(Zone.RAW, f"data-capture/{ENDPOINT}/AllTraffic/{HOUR_PATH}capture.jsonl")),
    ("s3:GetObject", obj(Zone.RAW, f"labels/{ENDPOINT}/batch-1.jsonl")),
    ("s3:PutObject", obj(Zone.CURATED, f"{MODEL}/ground-truth/{ENDPOINT}/{HOUR_PATH}labels.jsonl")),
    ("s3:PutObject", obj(Zone.CURATED, f"{MODEL}/feedback/year=2026/month=11/day=29/feedback-13.csv")),
]
DENIED = [
    ("s3:PutObject", obj(Zone.RAW, f"data-capture/{ENDPOINT}/AllTraffic/{HOUR_PATH}capture.jsonl")),
    ("s3:PutObject", obj(Zone.RAW, f"labels/{ENDPOINT}/batch-1.jsonl")),
    ("s3:DeleteObject", obj(Zone.RAW, f"labels/{ENDPOINT}/batch-1.jsonl")),
    ("s3:GetObject", obj(Zone.RAW, f"data-capture/other/AllTraffic/{HOUR_PATH}capture.jsonl")),
    ("s3:GetObject", obj(Zone.RAW, f"labels/{ENDPOINT}-other/batch-1.jsonl")),
    ("s3:GetObject", obj(Zone.RAW, "sales/year=2026/month=11/day=29/part-0.csv")),
    ("s3:GetObject", obj(Zone.CURATED, f"{MODEL}/training/train.csv")),
    ("s3:GetObject", obj(Zone.CURATED, f"{MODEL}/ground-truth/{ENDPOINT}/{HOUR_PATH}labels.jsonl")),
    ("s3:GetObject", obj(Zone.CURATED, f"{MODEL}/feedback/year=2026/month=11/day=29/feedback-13.csv")),
    ("s3:GetObject", obj(Zone.PROCESSED, f"labels/{ENDPOINT}/batch-1.jsonl")),
    ("s3:PutObject", obj(Zone.CURATED, f"{MODEL}/ground-truth/other/{HOUR_PATH}labels.jsonl")),
    ("s3:PutObject", obj(Zone.CURATED, f"{MODEL}/training/train.csv")),
    ("s3:PutObject", obj(Zone.ARTIFACTS, f"{MODEL}/feedback/x.csv")),
    ("s3:DeleteObject", obj(Zone.CURATED, f"{MODEL}/feedback/year=2026/month=11/day=29/feedback-13.csv")),
]


@pytest.mark.parametrize(("action", "resource"), ALLOWED)
def test_role_reads_capture_and_labels_and_writes_ground_truth_and_feedback(synthesized, action, resource):
    assert permitted(synthesized["policy"], action, resource)


@pytest.mark.parametrize(("action", "resource"), DENIED)
def test_role_may_not_write_its_inputs_nor_touch_anything_else(synthesized, action, resource):
    assert not permitted(synthesized["policy"], action, resource)


def test_role_lists_only_the_capture_and_labels_prefixes_and_uses_the_lake_key_only_through_s3(synthesized):
    policy, raw, curated = synthesized["policy"], f"arn:aws:s3:::{BUCKETS[Zone.RAW]}", f"arn:aws:s3:::{BUCKETS[Zone.CURATED]}"
    for prefix in (f"data-capture/{ENDPOINT}/", f"labels/{ENDPOINT}/"):
        assert permitted(policy, "s3:ListBucket", raw, {"s3:prefix": prefix})
    for bucket, prefix in ((raw, "data-capture/"), (raw, ""), (raw, "labels/"), (curated, f"{MODEL}/")):
        assert not permitted(policy, "s3:ListBucket", bucket, {"s3:prefix": prefix})
    via_s3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert permitted(policy, action, LAKE_KEY_ARN, via_s3)
        assert not permitted(policy, action, LAKE_KEY_ARN)
    assert not permitted(policy, "kms:Encrypt", LAKE_KEY_ARN, via_s3)


def test_a_capture_of_another_endpoint_is_refused():
    other = LakeDataset(Zone.RAW, "data-capture/other/", "capture")
    with pytest.raises(ValueError, match=r"FeedbackLoop .*capture raw/data-capture/other/ is not the capture of "
                                         r"endpoint 't-churn' \(its last folder must be 't-churn/'\)"):
        build(App(), capture=other)


def test_a_capture_of_an_endpoint_whose_name_ends_like_this_one_is_refused():
    with pytest.raises(ValueError, match="is not the capture of endpoint"):
        build(App(), endpoint_name="churn", capture=CAPTURE)


def test_labels_that_overlap_the_outputs_are_refused_at_synthesis():
    """The Lambda's MergeConfig refuses such an environment every hour: refuse it at synth."""
    with pytest.raises(ValueError, match=r"labels curated/churn/ overlap the ground truth .* land labels elsewhere"):
        build(App(), labels={"zone": "curated", "prefix": f"{MODEL}/"})


# --- the seam: the construct's environment, read by the Lambda's own parser ---------------------


def test_the_lambda_accepts_the_environment_and_reads_the_construct_locations(synthesized):
    loop, env = synthesized["loop"], synthesized["environment"]
    config = MergeConfig.from_environment(env)
    assert config == MergeConfig(
        capture=Location(BUCKETS[CAPTURE.zone], "data-capture/"), endpoint_name=ENDPOINT,
        labels=Location(BUCKETS[loop.labels.zone], loop.labels.prefix),
        ground_truth=Location(BUCKETS[loop.ground_truth.zone], loop.ground_truth.prefix),
        feedback=Location(BUCKETS[FEEDBACK.zone], FEEDBACK.prefix),
        id_attribute="inference-id", label_attribute="label", lookback_days=7)
    # The Lambda reads captures under <CAPTURE_PREFIX><ENDPOINT_NAME>/: the capture it was given.
    assert f"{config.capture.prefix}{config.endpoint_name}/" == CAPTURE.prefix


def test_a_capture_at_the_zone_root_and_custom_settings_reach_the_lambda():
    stack, lake, _, loop = build(App(), capture=LakeDataset(Zone.RAW, f"{ENDPOINT}/", "capture"), lookback_days=30,
                                 labels={"zone": "processed", "prefix": "gt-output/churn/"})
    found = Template.from_stack(stack).to_json()["Resources"]
    env = Resolver(stack, lake, ENV)(found[stack.resolve(loop.function.node.default_child.logical_id)]
                                ["Properties"]["Environment"]["Variables"])
    config = MergeConfig.from_environment(env)
    assert (config.capture, config.lookback_days) == (Location(BUCKETS[Zone.RAW], ""), 30)
    assert config.labels == Location(BUCKETS[Zone.PROCESSED], "gt-output/churn/")


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", ENV["region"])
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name=ENV["region"])
        for name in BUCKETS.values():
            client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": ENV["region"]})
        yield client


def record_calls(client) -> list[tuple[str, dict]]:
    calls: list[tuple[str, dict]] = []
    client.meta.events.register("before-parameter-build.s3",
                                lambda params, model, **_: calls.append((model.name, dict(params))))
    return calls


def iam_request(operation: str, params: dict) -> tuple[str, str, dict[str, str]]:
    bucket = f"arn:aws:s3:::{params['Bucket']}"
    if operation == "ListObjectsV2":
        return "s3:ListBucket", bucket, {"s3:prefix": params.get("Prefix", "")}
    actions = {"GetObject": "s3:GetObject", "PutObject": "s3:PutObject"}
    return actions[operation], f"{bucket}/{params['Key']}", {}


def test_merge_with_the_construct_environment_hands_ground_truth_and_feedback_to_their_consumers(synthesized, s3):
    """One label and its captured request in, Model Monitor ground truth and a training row out,
    where the construct says they are, with nothing but what its role permits."""
    loop, config = synthesized["loop"], MergeConfig.from_environment(synthesized["environment"])
    labels_bucket, capture_bucket = BUCKETS[loop.labels.zone], BUCKETS[CAPTURE.zone]
    label_key = f"{loop.labels.prefix}batch-1.jsonl"
    s3.put_object(Bucket=labels_bucket, Key=label_key,
                  Body=b'{"inference-id": "e-1", "label": 1}\n{"inference-id": "never-captured", "label": 0}\n')
    modified = s3.head_object(Bucket=labels_bucket, Key=label_key)["LastModified"].astimezone(datetime.timezone.utc)
    hour = modified.replace(minute=0, second=0, microsecond=0)
    captured = {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                                  "data": "42,3.5", "encoding": "CSV"},
                                "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                                   "data": "0.91", "encoding": "CSV"}},
                "eventMetadata": {"eventId": "e-1", "inferenceTime": f"{hour:%Y-%m-%dT%H}:05:00Z"}, "eventVersion": "0"}
    s3.put_object(Bucket=capture_bucket, Key=f"{CAPTURE.prefix}AllTraffic/{hour:%Y/%m/%d/%H}/capture-1.jsonl",
                  Body=(json.dumps(captured) + "\n").encode())

    recorded = record_calls(s3)
    result = merge(s3, config, hour)
    calls = list(recorded)  # the merge's own requests, not the reads of this test below

    assert (result["labels"], result["matched"], result["unmatched"]) == (2, 1, 1)
    ground_truth_key = result["ground_truth_key"]
    assert ground_truth_key == f"{loop.ground_truth.prefix}{hour:%Y/%m/%d/%H}/labels.jsonl"  # HOURLY folders
    body = s3.get_object(Bucket=BUCKETS[loop.ground_truth.zone], Key=ground_truth_key)["Body"].read().decode()
    assert [json.loads(line) for line in body.splitlines()][0] == {
        "groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "e-1"}, "eventVersion": "0"}
    feedback_key = result["feedback_key"]
    assert feedback_key == f"{FEEDBACK.prefix}year={hour:%Y}/month={hour:%m}/day={hour:%d}/feedback-{hour:%H}.csv"
    assert s3.get_object(Bucket=BUCKETS[FEEDBACK.zone], Key=feedback_key)["Body"].read() == b"1,42,3.5\n"

    assert {name for name, _ in calls} == {"ListObjectsV2", "GetObject", "PutObject"}
    refused = [(name, params.get("Bucket"), params.get("Key", params.get("Prefix"))) for name, params in calls
               if not permitted(synthesized["policy"], *iam_request(name, params))]
    assert not refused, refused


# --- gates -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    return synth_gated(tmp_path_factory.mktemp("feedback-gated"), lambda stage: build(stage))


def test_feedback_loop_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    assert_gates_pass(gated)
