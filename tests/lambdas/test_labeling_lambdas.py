"""Ground Truth's pre-annotation and consolidation contracts, on the documented request shapes."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from ml_platform.constructs.labeling.labeling_task import TEMPLATE
from ml_platform.lambdas.labeling_consolidation import handler as consolidation
from ml_platform.lambdas.labeling_pre_annotation import handler as pre_annotation

JOB = "arn:aws:sagemaker:eu-west-1:111122223333:labeling-job/scans-2026-11"
IMAGE = "s3://lake-raw/labeling/images/scan-0001.png"


def answer(worker: str, label) -> dict:
    return {"workerId": f"private.eu-west-1.{worker}",
            "annotationData": {"content": json.dumps({"category": {"label": label}})}}


# -- pre-annotation ------------------------------------------------------------------------------


def test_pre_annotation_turns_a_manifest_line_into_the_task_input(monkeypatch):
    monkeypatch.setenv("LABELS", json.dumps(["normal", "benign", "malignant"]))
    monkeypatch.setenv("TITLE", "Which finding does this scan show?")
    request = {"version": "2018-10-16", "labelingJobArn": JOB, "dataObject": {"source-ref": IMAGE}}
    assert pre_annotation.on_event(request, None) == {
        "taskInput": {"taskObject": IMAGE, "labels": ["normal", "benign", "malignant"],
                      "title": "Which finding does this scan show?"},
        "isHumanAnnotationRequired": "true"}


@pytest.mark.parametrize("data", [{"source": "free text, not an image"}, {"source-ref": "https://x/y.png"}, None])
def test_pre_annotation_refuses_a_line_without_an_image(data):
    request = {"version": "2018-10-16", "labelingJobArn": JOB, "dataObject": data}
    with pytest.raises(ValueError, match="dataObject needs an s3:// source-ref \\(an image\\), got "):
        pre_annotation.task_input(request, ["a", "b"], "t")


# -- consolidation -------------------------------------------------------------------------------


def request(labels=("normal", "benign", "malignant"), uri="s3://lake-curated/labeling/labels/job/payload.json"):
    return {"version": "2018-10-16", "labelingJobArn": JOB, "labelCategories": list(labels),
            "labelAttributeName": "finding", "roleArn": "arn:aws:iam::111122223333:role/labeling",
            "payload": {"s3Uri": uri}, "outputConfig": "s3://lake-curated/labeling/labels/job/annotations"}


def test_majority_vote_with_confidence_in_the_documented_response_shape():
    objects = [{"datasetObjectId": "0", "dataObject": {"s3Uri": IMAGE},
                "annotations": [answer("A", "benign"), answer("B", "benign"), answer("C", "malignant")]}]
    assert consolidation.consolidate(request(), objects, "2026-11-22T06:00:00.000000") == [{
        "datasetObjectId": "0", "consolidatedAnnotation": {"content": {
            "finding": {"label": "benign"},
            "finding-metadata": {"class-name": "benign", "confidence": 0.67, "workers": 3, "job-name": "scans-2026-11",
                                 "type": "groundtruth/custom", "human-annotated": "yes",
                                 "creation-date": "2026-11-22T06:00:00.000000"}}}}]


def test_ties_go_to_the_label_listed_first_and_unanswered_or_malformed_answers_do_not_count():
    broken = {"workerId": "private.eu-west-1.D", "annotationData": {"content": "not json"}}
    empty = {"workerId": "private.eu-west-1.E", "annotationData": {"content": json.dumps({"category": {}})}}
    objects = [
        {"datasetObjectId": "1", "annotations": [answer("A", "malignant"), answer("B", "normal"), broken, empty]},
        {"datasetObjectId": "2", "annotations": [broken]},
        {"datasetObjectId": "3", "annotations": []},
    ]
    result = consolidation.consolidate(request(), objects, "now")
    assert [r["datasetObjectId"] for r in result] == ["1"]  # 2 and 3 fail in Ground Truth, as documented
    metadata = result[0]["consolidatedAnnotation"]["content"]["finding-metadata"]
    assert (metadata["class-name"], metadata["confidence"], metadata["workers"]) == ("normal", 0.5, 2)


def test_consolidation_reads_the_payload_from_s3(mocked_aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="lake-curated", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    payload = [{"datasetObjectId": "7", "annotations": [answer("A", "normal")]}]
    s3.put_object(Bucket="lake-curated", Key="labeling/labels/job/payload.json", Body=json.dumps(payload).encode())
    [result] = consolidation.on_event(request(), None, s3=s3)
    assert result["datasetObjectId"] == "7"
    content = result["consolidatedAnnotation"]["content"]
    assert content["finding"] == {"label": "normal"} and content["finding-metadata"]["confidence"] == 1.0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", content["finding-metadata"]["creation-date"])


# -- the template and the functions agree -------------------------------------------------------


def test_the_task_template_reads_what_pre_annotation_returns_and_answers_what_consolidation_reads():
    template = TEMPLATE.read_text()
    read = set(re.findall(r"task\.input\.(\w+)", template))
    assert read == set(pre_annotation.task_input({"dataObject": {"source-ref": IMAGE}}, ["a", "b"], "t"))
    assert re.search(r'<crowd-image-classifier\s+name="category"', template)  # the answer is {"category": {"label"}}
    assert "grant_read_access" in template  # workers' browsers get pre-signed URLs, not bucket access
