"""Each DataBrew step emits the operation and string parameters of the recipe action reference."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from ml_platform.constructs.preparation import databrew_steps as steps

CONTEXT = steps.RecipeContext(secret_arn="arn:aws:secretsmanager:eu-west-1:111111111111:secret:pii-AbCdEf",
                              kms_key_arn="arn:aws:kms:eu-west-1:111111111111:key/1234")
ANY_STEP = TypeAdapter(steps.AnyStep)

# (YAML form, operation, parameters as DataBrew expects them: every value a string)
EMISSIONS = [
    ({"action": "delete_columns", "columns": ["ssn", "notes"]},
     "DELETE", {"sourceColumns": '["ssn", "notes"]'}),
    ({"action": "mask_custom", "columns": ["company"], "value": "amazon"},
     "MASK_CUSTOM", {"sourceColumns": '["company"]', "maskSymbol": "#", "customValue": "amazon", "regex": "false"}),
    ({"action": "mask_custom", "columns": ["phone"], "value": "[0-9]", "regex": True, "mask_symbol": "*"},
     "MASK_CUSTOM", {"sourceColumns": '["phone"]', "maskSymbol": "*", "customValue": "[0-9]", "regex": "true"}),
    ({"action": "mask_range", "columns": ["card"], "stop": -4},
     "MASK_RANGE", {"sourceColumns": '["card"]', "maskSymbol": "#", "stop": "-4"}),
    ({"action": "mask_range", "columns": ["iban"], "start": 4, "stop": 10, "preserve": ["WHITESPACE"]},
     "MASK_RANGE", {"sourceColumns": '["iban"]', "maskSymbol": "#", "start": "4", "stop": "10", "alphabet": '["WHITESPACE"]'}),
    ({"action": "mask_delimiter", "columns": ["email"], "end_delimiter": "@"},
     "MASK_DELIMITER", {"sourceColumns": '["email"]', "maskSymbol": "#", "endDelimiter": "@", "preserveDelimiters": "false"}),
    ({"action": "mask_delimiter", "columns": ["name"], "start_delimiter": "<", "end_delimiter": ">",
      "preserve_delimiters": True, "preserve": ["SYMBOLS", "WHITESPACE"]},
     "MASK_DELIMITER", {"sourceColumns": '["name"]', "maskSymbol": "#", "startDelimiter": "<", "endDelimiter": ">",
                        "preserveDelimiters": "true", "alphabet": '["SYMBOLS", "WHITESPACE"]'}),
    ({"action": "mask_date", "columns": ["birthday"], "redact": ["YEAR"]},
     "MASK_DATE", {"sourceColumns": '["birthday"]', "maskSymbol": "#", "redact": '["YEAR"]'}),
    ({"action": "mask_date", "columns": ["birthday"], "redact": ["DAY", "MONTH"], "locale": "de-DE"},
     "MASK_DATE", {"sourceColumns": '["birthday"]', "maskSymbol": "#", "redact": '["DAY", "MONTH"]', "locale": "de-DE"}),
    ({"action": "hash", "columns": ["email"]},
     "CRYPTOGRAPHIC_HASH", {"sourceColumns": '["email"]', "secretId": CONTEXT.secret_arn, "algorithm": "HMAC_SHA256"}),
    ({"action": "hash", "columns": ["email"], "algorithm": "HMAC_SHA512"},
     "CRYPTOGRAPHIC_HASH", {"sourceColumns": '["email"]', "secretId": CONTEXT.secret_arn, "algorithm": "HMAC_SHA512"}),
    ({"action": "deterministic_encrypt", "columns": ["customer_id"]},
     "DETERMINISTIC_ENCRYPT", {"sourceColumns": '["customer_id"]', "secretId": CONTEXT.secret_arn}),
    ({"action": "encrypt", "columns": ["address"]},
     "ENCRYPT", {"sourceColumns": '["address"]', "kmsKeyArn": CONTEXT.kms_key_arn, "preserveDataType": "true"}),
    ({"action": "encrypt", "columns": ["address"], "preserve_data_type": False},
     "ENCRYPT", {"sourceColumns": '["address"]', "kmsKeyArn": CONTEXT.kms_key_arn, "preserveDataType": "false"}),
    ({"action": "random_numbers", "columns": ["age"], "lower": 18, "upper": 90},
     "REPLACE_WITH_RANDOM_BETWEEN", {"sourceColumns": '["age"]', "lowerBound": "18", "upperBound": "90"}),
    ({"action": "random_numbers", "columns": ["score"], "lower": 0.5, "upper": 1.5},
     "REPLACE_WITH_RANDOM_BETWEEN", {"sourceColumns": '["score"]', "lowerBound": "0.5", "upperBound": "1.5"}),
    ({"action": "random_dates", "columns": ["dob"], "start": "1950-01-01", "end": "2000-12-31T23:59:59"},
     "REPLACE_WITH_RANDOM_DATE_BETWEEN", {"sourceColumns": '["dob"]', "startDate": "1950-01-01 00:00:00", "endDate": "2000-12-31 23:59:59"}),
    ({"action": "shuffle_rows", "columns": ["age"]},
     "SHUFFLE_ROWS", {"sourceColumns": '["age"]'}),
    ({"action": "shuffle_rows", "columns": ["age"], "group_by": ["country"]},
     "SHUFFLE_ROWS", {"sourceColumns": '["age"]', "groupByColumns": '["country"]'}),
    ({"action": "fill_with_median", "column": "age"}, "FILL_WITH_MEDIAN", {"sourceColumn": "age"}),
    ({"action": "fill_with_average", "column": "age"}, "FILL_WITH_AVERAGE", {"sourceColumn": "age"}),
    ({"action": "fill_with_mode", "column": "age"}, "FILL_WITH_MODE", {"sourceColumn": "age", "modeType": "MINIMUM"}),
    ({"action": "fill_with_mode", "column": "age", "tie": "MAXIMUM"}, "FILL_WITH_MODE", {"sourceColumn": "age", "modeType": "MAXIMUM"}),
    ({"action": "remove_duplicate_rows"}, "DELETE_DUPLICATE_ROWS", None),
    ({"action": "remove_duplicate_values", "column": "order_id"}, "REMOVE_DUPLICATES", {"sourceColumn": "order_id"}),
    ({"action": "remove_missing", "column": "last_name"}, "REMOVE_MISSING", {"sourceColumn": "last_name"}),
    ({"action": "flag_outliers", "column": "amount", "target_column": "amount_outlier"},
     "FLAG_OUTLIERS", {"sourceColumn": "amount", "outlierStrategy": "Z_SCORE", "threshold": "3",
                       "targetColumn": "amount_outlier", "trueString": "True", "falseString": "False"}),
    ({"action": "flag_outliers", "column": "amount", "target_column": "is_outlier", "strategy": "IQR",
      "threshold": 1.5, "true_string": "yes", "false_string": "no"},
     "FLAG_OUTLIERS", {"sourceColumn": "amount", "outlierStrategy": "IQR", "threshold": "1.5",
                       "targetColumn": "is_outlier", "trueString": "yes", "falseString": "no"}),
    ({"action": "remove_outliers", "column": "amount"},
     "REMOVE_OUTLIERS", {"sourceColumn": "amount", "outlierStrategy": "Z_SCORE", "threshold": "3", "removeType": "DELETE_ROWS"}),
    ({"action": "remove_outliers", "column": "amount", "strategy": "MODIFIED_Z_SCORE", "remove": "CLEAR", "percentiles": [5, 95]},
     "REMOVE_OUTLIERS", {"sourceColumn": "amount", "outlierStrategy": "MODIFIED_Z_SCORE", "threshold": "3",
                         "removeType": "CLEAR", "trimValue": "true", "minValue": "5", "maxValue": "95"}),
    ({"action": "replace_outliers", "column": "amount"},
     "REPLACE_OUTLIERS", {"sourceColumn": "amount", "outlierStrategy": "Z_SCORE", "threshold": "3", "replaceType": "WINSORIZE_VALUES"}),
    ({"action": "replace_outliers", "column": "amount", "replace": "REPLACE_WITH_CUSTOM", "value": "0"},
     "REPLACE_OUTLIERS", {"sourceColumn": "amount", "outlierStrategy": "Z_SCORE", "threshold": "3",
                          "replaceType": "REPLACE_WITH_CUSTOM", "value": "0"}),
    ({"action": "replace_outliers", "column": "amount", "replace": "REPLACE_WITH_MODE", "mode_tie": "MAX", "percentiles": [1, 99.5]},
     "REPLACE_OUTLIERS", {"sourceColumn": "amount", "outlierStrategy": "Z_SCORE", "threshold": "3",
                          "replaceType": "REPLACE_WITH_MODE", "modeType": "MAX", "trimValue": "true", "minValue": "1", "maxValue": "99.5"}),
    ({"action": "rename", "column": "date_of_birth", "new_name": "birth_date"},
     "RENAME", {"sourceColumn": "date_of_birth", "targetColumn": "birth_date"}),
    ({"action": "change_type", "column": "amount", "to": "double"},
     "CHANGE_DATA_TYPE", {"sourceColumn": "amount", "columnDataType": "double"}),
]


@pytest.mark.parametrize(("yaml_step", "operation", "parameters"), EMISSIONS, ids=[e[0]["action"] for e in EMISSIONS])
def test_step_emits_exact_operation_and_string_parameters(yaml_step, operation, parameters):
    rendered = ANY_STEP.validate_python(yaml_step).render(CONTEXT)
    expected = {"Operation": operation, **({"Parameters": parameters} if parameters else {})}
    assert rendered == {"Action": expected}


def test_every_step_type_has_an_emission_test():
    tested = {e[0]["action"] for e in EMISSIONS}
    declared = {cls.model_fields["action"].default for cls in steps.AnyStep.__origin__.__args__}
    assert tested == declared


def test_python_and_yaml_forms_are_the_same_step():
    assert steps.MaskRange(columns=["card"], stop=-4) == ANY_STEP.validate_python(
        {"action": "mask_range", "columns": ["card"], "stop": -4})


def test_only_protecting_steps_need_the_secret_or_the_key():
    assert {c.operation for c in steps.AnyStep.__origin__.__args__ if c.uses_secret} == {"CRYPTOGRAPHIC_HASH", "DETERMINISTIC_ENCRYPT"}
    assert {c.operation for c in steps.AnyStep.__origin__.__args__ if c.uses_key} == {"ENCRYPT"}


ERRORS = [
    ({"action": "delete_columns", "columns": []}, "at least 1 item"),
    ({"action": "delete_columns", "columns": ["a", "b", "a"]}, "columns name 'a' more than once"),
    ({"action": "delete_columns", "columns": [""]}, "at least 1 character"),
    ({"action": "mask_custom", "columns": ["a"], "value": ""}, "at least 1 character"),
    ({"action": "mask_custom", "columns": ["a"], "value": "x", "mask_symbol": "##"}, "at most 1 character"),
    ({"action": "mask_range", "columns": ["a"]}, "give start, stop or both"),
    ({"action": "mask_range", "columns": ["a"], "start": 5, "stop": 2}, "start 5 must come before stop 2"),
    ({"action": "mask_range", "columns": ["a"], "stop": 2, "preserve": ["DIGITS"]}, "'SYMBOLS' or 'WHITESPACE'"),
    ({"action": "mask_delimiter", "columns": ["a"]}, "give start_delimiter, end_delimiter or both"),
    ({"action": "mask_date", "columns": ["a"], "redact": []}, "at least 1 item"),
    ({"action": "mask_date", "columns": ["a"], "redact": ["WEEK"]}, "'YEAR', 'MONTH'"),
    ({"action": "mask_date", "columns": ["a"], "redact": ["YEAR"], "locale": "German"}, "should match pattern"),
    ({"action": "hash", "columns": ["a"], "algorithm": "SHA256"}, "'HMAC_SHA256'"),
    ({"action": "hash", "columns": ["a"], "secret": "databrew!default"}, "Extra inputs are not permitted"),
    ({"action": "encrypt", "columns": ["a"], "kms_key_arn": "arn:aws:kms:x"}, "Extra inputs are not permitted"),
    ({"action": "random_numbers", "columns": ["a"], "lower": 5, "upper": 5}, "lower 5 must be less than upper 5"),
    ({"action": "random_dates", "columns": ["a"], "start": "2001-01-01", "end": "2000-01-01"}, "must be before end"),
    ({"action": "shuffle_rows", "columns": ["a"], "group_by": ["a"]}, "'a' cannot be both shuffled and a group_by column"),
    ({"action": "fill_with_mode", "column": "a", "tie": "MEDIAN"}, "'MINIMUM', 'MAXIMUM'"),
    ({"action": "fill_with_median", "columns": ["a"]}, "Field required"),
    ({"action": "flag_outliers", "column": "a", "target_column": "a"}, "target_column must differ from column"),
    ({"action": "flag_outliers", "column": "a", "target_column": "b", "threshold": 0}, "greater than 0"),
    ({"action": "remove_outliers", "column": "a", "strategy": "SIGMA"}, "'Z_SCORE'"),
    ({"action": "remove_outliers", "column": "a", "percentiles": [95, 5]}, "the lower must be less than the upper"),
    ({"action": "remove_outliers", "column": "a", "percentiles": [5, 101]}, "less than or equal to 100"),
    ({"action": "replace_outliers", "column": "a", "replace": "REPLACE_WITH_CUSTOM"}, "value is required with replace REPLACE_WITH_CUSTOM"),
    ({"action": "replace_outliers", "column": "a", "value": "0"}, "value is required with replace REPLACE_WITH_CUSTOM and allowed only with it"),
    ({"action": "replace_outliers", "column": "a", "mode_tie": "MAX"}, "mode_tie is allowed only with replace REPLACE_WITH_MODE"),
    ({"action": "rename", "column": "a", "new_name": "a"}, "new_name must differ from column"),
    ({"action": "change_type", "column": "a", "to": "varchar"}, "'byte', 'short'"),
    ({"action": "encrypt_everything", "columns": ["a"]}, "does not match any of the expected tags"),
]


@pytest.mark.parametrize(("yaml_step", "message"), ERRORS, ids=[f"{e[0]['action']}-{i}" for i, e in enumerate(ERRORS)])
def test_bad_steps_are_rejected_with_a_clear_message(yaml_step, message):
    with pytest.raises(ValueError) as caught:
        ANY_STEP.validate_python(yaml_step)
    assert message in str(caught.value)
