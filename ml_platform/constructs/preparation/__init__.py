"""Cataloging and preparing data: Glue crawlers, jobs, workflows and Data Quality, DataBrew, feature sets."""

from __future__ import annotations

from ml_platform.constructs.preparation.databrew_pipeline import (
    DataBrewDatasetSettings,
    DataBrewJobSettings,
    DataBrewPipeline,
    PiiSecret,
)
from ml_platform.constructs.preparation.databrew_rules import QualityRule
from ml_platform.constructs.preparation.databrew_steps import RecipeStep
from ml_platform.constructs.preparation.dataset_pipeline import DatasetPipeline, DatasetSettings
from ml_platform.constructs.preparation.dq_recommendation_workflow import DqRecommendationWorkflow
from ml_platform.constructs.preparation.dq_recommendations import DqRecommendations, RecommendationSettings
from ml_platform.constructs.preparation.feature_settings import FeatureColumn, FeatureSettings, FeatureSource, Rebalance
from ml_platform.constructs.preparation.glue_crawler import CrawlerSettings, GlueCrawler
from ml_platform.constructs.preparation.glue_etl import JobSettings, QualitySettings, RawToParquetJob
from ml_platform.constructs.preparation.glue_security import GlueSecurity
from ml_platform.constructs.preparation.glue_workflow import DatasetWorkflow
from ml_platform.constructs.preparation.recipe_publisher import RecipePublisher

__all__ = [
    "CrawlerSettings",
    "DataBrewDatasetSettings",
    "DataBrewJobSettings",
    "DataBrewPipeline",
    "DatasetPipeline",
    "DatasetSettings",
    "DatasetWorkflow",
    "DqRecommendationWorkflow",
    "DqRecommendations",
    "FeatureColumn",
    "FeatureSettings",
    "FeatureSource",
    "GlueCrawler",
    "GlueSecurity",
    "JobSettings",
    "PiiSecret",
    "QualityRule",
    "QualitySettings",
    "RawToParquetJob",
    "Rebalance",
    "RecipePublisher",
    "RecipeStep",
    "RecommendationSettings",
]
