"""``FeatureStore``: a SageMaker feature group per feature set, its offline store in the lake.

Each :class:`FeatureGroup` is an ``AWS::SageMaker::FeatureGroup`` named ``<name_prefix>-<set>``
with an offline store in the curated zone under ``feature-store/<set>/`` (:data:`OFFLINE_PREFIX`),
encrypted with the lake key, in the Iceberg table format and registered as the table
``<name_prefix>_<set>`` (lower case, ``_`` for ``-``) of the curated Glue database; optionally an
online store (``Standard``, the lake key, a TTL). Feature Store writes the offline store as a role
of the group's own (:attr:`FeatureGroup.role`), which may write only that prefix and read and update
only that table.

Who reads and writes records is granted from the flow (see ``docs/feature-store.md``):
:meth:`FeatureGroup.grant_write` (``PutRecord``) to the processing role whose Features step
ingests a set; :meth:`FeatureGroup.grant_read_online` (``GetRecord``) to code that looks features
up at inference; :meth:`FeatureGroup.grant_read_offline` (the lake prefix and the table) to jobs
and people that query history. Creating a group creates no grant.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.lake.lake_locations import LakeDataset
from ml_platform.constructs.training.feature_store_settings import FeatureSetSettings

#: Key prefix of the offline stores in the curated zone; a set's store is ``<prefix><set>/``.
OFFLINE_PREFIX = "feature-store/"
#: The offline store's table format (Iceberg: compaction, faster queries; event time must be a String).
TABLE_FORMAT = "Iceberg"
#: The Glue Data Catalog of the account, as DataCatalogConfig names it.
DATA_CATALOG = "AwsDataCatalog"
#: Online store storage type (``Standard`` supports a TTL and a KMS key).
ONLINE_STORAGE = "Standard"
#: Columns Feature Store adds to every offline record.
OFFLINE_COLUMNS = ("write_time", "api_invocation_time", "is_deleted")
#: What the offline-store role may do to its table (the AmazonSageMakerFeatureStoreAccess policy's Glue actions).
OFFLINE_STORE_GLUE_ACTIONS = ("glue:GetTable", "glue:UpdateTable")
#: Glue reads of a query engine (Athena, Spark) over the offline table.
OFFLINE_READ_GLUE_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions")
#: Online reads of records of a group.
ONLINE_READ_ACTIONS = ("sagemaker:GetRecord", "sagemaker:BatchGetRecord", "sagemaker:DescribeFeatureGroup")
#: Writes of records (``DescribeFeatureGroup``: the ingest step reads the group's definitions).
WRITE_ACTIONS = ("sagemaker:PutRecord", "sagemaker:DeleteRecord", "sagemaker:DescribeFeatureGroup")
#: Longest feature group name (AWS::SageMaker::FeatureGroup FeatureGroupName).
MAX_GROUP_NAME = 64


def table_name(group_name: str) -> str:
    """The Glue table of a group's offline store: ``group_name`` in lower case, ``_`` for ``-``."""
    return group_name.lower().replace("-", "_")


class FeatureGroup(Construct):
    """One feature group (see the module docstring).

    :param set_name: the feature set's name. :param name_prefix: e.g. ``mlp-dev``; the group is
        named ``<name_prefix>-<set_name>``.
    :param settings: the set, with its features (a ``pipeline`` set resolved first).
    :param lake: the offline store goes under ``feature-store/<set>/`` of its curated zone,
        encrypted with its key; the online store is encrypted with the same key.
    :param database: the curated zone's Glue database (DataCatalogStack ``databases["curated"]``).
    :param removal_policy: of the feature group (its online records). Default: RETAIN.
    :param permissions_boundary: of the offline-store role. Default: none.

    :ivar feature_group_name: the name. :ivar feature_group_arn: its ARN.
    :ivar offline_store: the :class:`LakeDataset` the offline store writes (Parquet files of an
        Iceberg table, with the features and :data:`OFFLINE_COLUMNS`).
    :ivar table_name: the Glue table. :ivar role: the offline-store role.
    """

    def __init__(self, scope: Construct, construct_id: str, *, set_name: str, name_prefix: str,
                 settings: FeatureSetSettings,
                 lake: ILake, database: glue.IDatabase, removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
                 permissions_boundary: iam.IManagedPolicy | None = None) -> None:
        super().__init__(scope, construct_id)
        group_name = f"{name_prefix}-{set_name}"
        check_problems(f"FeatureGroup {self.node.path}", [
            f"group name {group_name!r} is {len(group_name)} characters long; at most {MAX_GROUP_NAME} "
            "(shorten the name prefix or the set name)"] if len(group_name) > MAX_GROUP_NAME else [])
        definitions = settings.definitions()
        self.settings, self.lake, self.database = settings, lake, database
        self.feature_group_name = group_name
        self.table_name = table_name(group_name)
        self.offline_store = LakeDataset(
            Zone.CURATED, f"{OFFLINE_PREFIX}{set_name}/", "parquet",
            columns=(*(d.name for d in definitions), *OFFLINE_COLUMNS), producer=f"feature group {group_name}")
        stack = Stack.of(self)
        self.catalog_arn = stack.format_arn(service="glue", resource="catalog")
        self.table_arn = stack.format_arn(service="glue", resource="table",
                                          resource_name=f"{database.database_name}/{self.table_name}")
        self.role = ManagedPolicyRole.for_service(
            self, "OfflineStoreRole", service="sagemaker.amazonaws.com",
            description=f"Feature Store writes the offline store of {group_name}")
        if permissions_boundary is not None:
            iam.PermissionsBoundary.of(self.role).apply(permissions_boundary)
        self._grant_offline_store_role()
        key = lake.encryption_key.key_arn
        online = settings.online
        self.resource = sagemaker.CfnFeatureGroup(
            self, "Resource", feature_group_name=group_name,
            record_identifier_feature_name=settings.record_identifier or "",
            event_time_feature_name=settings.event_time,
            feature_definitions=[sagemaker.CfnFeatureGroup.FeatureDefinitionProperty(
                feature_name=d.name, feature_type=d.type) for d in definitions],
            description=settings.description,
            role_arn=self.role.role_arn,
            offline_store_config={
                "S3StorageConfig": {"S3Uri": self.offline_store.uri(lake), "KmsKeyId": key},
                "DisableGlueTableCreation": False,
                "DataCatalogConfig": {"Catalog": DATA_CATALOG, "Database": database.database_name,
                                      "TableName": self.table_name},
                "TableFormat": TABLE_FORMAT,
            },
            online_store_config=None if online is None else {
                "EnableOnlineStore": True,
                "StorageType": ONLINE_STORAGE,
                "SecurityConfig": {"KmsKeyId": key},
                **({"TtlDuration": {"Unit": "Hours", "Value": online.ttl_hours}} if online.ttl_hours else {}),
            },
        )
        self.resource.apply_removal_policy(removal_policy)
        # Feature Store checks the role when the group is created and writes as it from then on.
        self.resource.node.add_dependency(self.role)
        #: The group's ARN, from its (lower-case, see FeatureSetName) name: policies read as they grant.
        self.feature_group_arn = stack.format_arn(service="sagemaker", resource="feature-group",
                                                  resource_name=group_name)

    @property
    def has_online_store(self) -> bool:
        """Whether the group has an online store."""
        return self.settings.online is not None

    def _grant_offline_store_role(self) -> None:
        """What AmazonSageMakerFeatureStoreAccess grants, on this group's prefix and table only."""
        role, lake, prefix = self.role, self.lake, self.offline_store.prefix
        # Objects (Parquet data, Iceberg metadata and manifests, which it reads back), with the lake key.
        lake.grant_read_write(role, Zone.CURATED, prefix)
        bucket = lake.bucket(Zone.CURATED)
        objects = bucket.arn_for_objects(f"{prefix}*")
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObjectAcl"], resources=[objects]))
        acknowledge_wildcard_resource(role, objects, f"Feature Store names the offline store's files under '{prefix}' "
                                      "as it writes them; the role may set their ACL there only.")
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetBucketAcl"], resources=[bucket.bucket_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=list(OFFLINE_STORE_GLUE_ACTIONS),
            resources=[self.catalog_arn, self.database.database_arn, self.table_arn]))

    # -- grants ------------------------------------------------------------------------------------

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` put and delete records (``PutRecord``, ``DeleteRecord``) and describe the
        group, and (online store) decrypt with the lake key, which data-plane calls need."""
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=list(WRITE_ACTIONS),
                                           resource_arns=[self.feature_group_arn])
        return grant.combine(self._grant_online_key(grantee)) if self.has_online_store else grant

    def grant_read_online(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` get records of the online store (``GetRecord``, ``BatchGetRecord``).

        :raises ValueError: if the group has no online store.
        """
        if not self.has_online_store:
            raise ValueError(f"FeatureGroup {self.node.path}: {self.feature_group_name} has no online store to read; "
                             "set online in its feature set, or grant_read_offline")
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=list(ONLINE_READ_ACTIONS),
                                           resource_arns=[self.feature_group_arn])
        return grant.combine(self._grant_online_key(grantee))

    def grant_read_offline(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` query the offline store: list, read and decrypt its lake prefix, and read
        its Glue database and table."""
        files = self.offline_store.grant_read(self.lake, grantee)
        return files.combine(iam.Grant.add_to_principal(
            grantee=grantee, actions=list(OFFLINE_READ_GLUE_ACTIONS),
            resource_arns=[self.catalog_arn, self.database.database_arn, self.table_arn]))

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """:meth:`grant_read_offline`, and :meth:`grant_read_online` when the group has an online store."""
        grant = self.grant_read_offline(grantee)
        return grant.combine(self.grant_read_online(grantee)) if self.has_online_store else grant

    def _grant_online_key(self, grantee: iam.IGrantable) -> iam.Grant:
        # Data-plane calls on an online store encrypted with a customer key need kms:Decrypt on it
        # (OnlineStoreSecurityConfig); no kms:ViaService value is documented for them.
        return iam.Grant.add_to_principal(grantee=grantee, actions=["kms:Decrypt"],
                                          resource_arns=[self.lake.encryption_key.key_arn])


class FeatureStore(Construct):
    """A :class:`FeatureGroup` per feature set, in :attr:`groups` by set name.

    :param feature_sets: set name to settings, each with its features (resolve ``pipeline`` sets
        first: ``FeatureStoreSettings.resolve``).
    :param lake: where the offline stores go (curated zone) and the key of both stores.
    :param database: the curated zone's Glue database.
    :param name_prefix: groups are named ``<name_prefix>-<set>``.
    :param removal_policy: of every group. Default: RETAIN.
    :param permissions_boundary: of every offline-store role. Default: none.
    :raises ValueError: in one line, naming each set that still names a ``pipeline``; (from
        :class:`FeatureGroup`) a group name longer than :data:`MAX_GROUP_NAME`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, feature_sets: Mapping[str, FeatureSetSettings],
                 lake: ILake, database: glue.IDatabase, name_prefix: str,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
                 permissions_boundary: iam.IManagedPolicy | None = None) -> None:
        super().__init__(scope, construct_id)
        check_problems(f"FeatureStore {self.node.path}", [
            f"feature set {n!r} still names pipeline {s.pipeline!r}; resolve it first (FeatureStoreSettings.resolve)"
            for n, s in feature_sets.items() if s.pipeline is not None])
        self.groups = {
            name: FeatureGroup(self, name, set_name=name, name_prefix=name_prefix, settings=settings, lake=lake,
                               database=database, removal_policy=removal_policy,
                               permissions_boundary=permissions_boundary)
            for name, settings in feature_sets.items()
        }

    def grant_write(self, grantee: iam.IGrantable, *sets: str) -> iam.Grant:
        """:meth:`FeatureGroup.grant_write` on ``sets`` (default: every group)."""
        return _combine([g.grant_write(grantee) for g in self._pick(sets)])

    def grant_read(self, grantee: iam.IGrantable, *sets: str) -> iam.Grant:
        """:meth:`FeatureGroup.grant_read` on ``sets`` (default: every group)."""
        return _combine([g.grant_read(grantee) for g in self._pick(sets)])

    def _pick(self, sets: tuple[str, ...]) -> list[FeatureGroup]:
        unknown = [s for s in sets if s not in self.groups]
        check_problems(f"FeatureStore {self.node.path}", [
            f"feature set {s!r} is unknown; allowed: {', '.join(self.groups)}" for s in unknown])
        return [self.groups[s] for s in sets] if sets else list(self.groups.values())


def _combine(grants: list[iam.Grant]) -> iam.Grant:
    first, *rest = grants
    for grant in rest:
        first = first.combine(grant)
    return first
