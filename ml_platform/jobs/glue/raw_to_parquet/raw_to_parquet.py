"""Glue job: raw CSV/JSON (catalog table of the raw zone) to typed Parquet in the processed zone.

Reads only new data (job bookmarks), casts columns to their configured types, evaluates the
dataset's Data Quality ruleset, and writes Parquet partitioned by year/month/day.
Arguments: --source_database --source_table --target_path --columns [--dq_ruleset
--dq_on_failure]. Runs on AWS Glue only; its logic is in raw_to_parquet_logic (tested locally).
"""

import sys

from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from awsgluedq.transforms import EvaluateDataQuality
from pyspark.context import SparkContext
from raw_to_parquet_logic import PARTITION_KEYS, parse_columns, quality_verdict, select_expressions

REQUIRED = ["JOB_NAME", "source_database", "source_table", "target_path", "columns"]
OPTIONAL = [name for name in ("dq_ruleset", "dq_on_failure") if f"--{name}" in sys.argv]
args = getResolvedOptions(sys.argv, REQUIRED + OPTIONAL)

glue_context = GlueContext(SparkContext.getOrCreate())
job = Job(glue_context)
job.init(args["JOB_NAME"], args)  # applies the security configuration and bookmarks
logger = glue_context.get_logger()

columns = parse_columns(args["columns"])
raw = glue_context.create_dynamic_frame.from_catalog(
    database=args["source_database"],
    table_name=args["source_table"],
    transformation_ctx="raw",
)
typed = DynamicFrame.fromDF(
    raw.toDF().selectExpr(*select_expressions(columns)), glue_context, "typed"
)

if args.get("dq_ruleset"):
    results = EvaluateDataQuality.apply(
        frame=typed,
        ruleset=args["dq_ruleset"],
        publishing_options={
            "dataQualityEvaluationContext": args["source_table"],
            "enableDataQualityCloudWatchMetrics": True,
            "enableDataQualityResultsPublishing": True,
        },
    )
    outcomes = [
        (row["Rule"], row["Outcome"], row["FailureReason"]) for row in results.toDF().collect()
    ]
    verdict = quality_verdict(outcomes, args.get("dq_on_failure", "fail"))
    if verdict.fail_job:
        logger.error(verdict.message)
        raise RuntimeError(verdict.message)
    logger.info(verdict.message)

glue_context.write_dynamic_frame.from_options(
    frame=typed,
    connection_type="s3",
    connection_options={"path": args["target_path"], "partitionKeys": list(PARTITION_KEYS)},
    format="glueparquet",
    format_options={"compression": "snappy"},
    transformation_ctx="processed",
)
job.commit()
