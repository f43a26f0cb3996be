"""deploy/: the Helm values name only keys Dagster's chart documents, and agree with the image and the instance.

No cluster runs here. The documented key paths below were read from the chart's schema (dagster-io/dagster,
helm/dagster/schema: DagsterHelmValues and its subschemas; chart 1.13.x, the series of the dagster library
crm_sync pins); `[]` stands for an item of a list. Only the paths crm_sync uses are listed.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from crm_sync.platform.engine import PLATFORM_URL_ENV
from crm_sync.platform.landing import LANDING_URL_ENV
from crm_sync.salesforce.config import ENV_VARS as SALESFORCE_ENV_VARS

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
CHART_VERSION = "1.13.x"

DOCUMENTED_PATHS = {
    "global.postgresqlSecretName",
    "postgresql.enabled",
    "postgresql.postgresqlHost",
    "postgresql.postgresqlUsername",
    "postgresql.postgresqlDatabase",
    "postgresql.postgresqlScheme",
    "postgresql.service.port",
    "generatePostgresqlPasswordSecret",
    "dagster-user-deployments.enabled",
    "dagster-user-deployments.enableSubchart",
    "dagster-user-deployments.deployments[].name",
    "dagster-user-deployments.deployments[].image.repository",
    "dagster-user-deployments.deployments[].image.tag",
    "dagster-user-deployments.deployments[].image.pullPolicy",
    "dagster-user-deployments.deployments[].dagsterApiGrpcArgs[]",
    "dagster-user-deployments.deployments[].port",
    "dagster-user-deployments.deployments[].envSecrets[].name",
    "dagster-user-deployments.deployments[].includeConfigInLaunchedRuns.enabled",
    "runLauncher.type",
    "runLauncher.config.k8sRunLauncher.imagePullPolicy",
    "runLauncher.config.k8sRunLauncher.loadInclusterConfig",
    "runLauncher.config.k8sRunLauncher.envSecrets[].name",
    "dagsterDaemon.enabled",
    "dagsterDaemon.runCoordinator.enabled",
    "dagsterDaemon.runCoordinator.type",
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueIntervalSeconds",
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueUseThreads",
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.dequeueNumWorkers",
    "concurrency.enabled",
    "concurrency.runs.maxConcurrentRuns",
    "concurrency.pools.defaultLimit",
    "telemetry.enabled",
}


def leaf_paths(node: object, prefix: str = "") -> set[str]:
    """Every leaf's dotted key path; a list item adds `[]`."""
    if isinstance(node, dict):
        return set().union(*(leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
                             for key, value in node.items()))
    if isinstance(node, list):
        return set().union(*(leaf_paths(item, f"{prefix}[]") for item in node)) if node else {prefix}
    return {prefix}


def _values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def _instance() -> dict:
    return yaml.safe_load((ROOT / "dagster.postgres.yaml").read_text())


def test_values_name_only_documented_chart_keys() -> None:
    unknown = leaf_paths(_values()) - DOCUMENTED_PATHS
    assert not unknown, f"keys the chart {CHART_VERSION} does not document: {sorted(unknown)}"
    assert CHART_VERSION in VALUES.read_text() and CHART_VERSION in (ROOT / "deploy" / "README.md").read_text()


def test_leaf_paths_sees_a_misspelt_key() -> None:
    assert leaf_paths({"runLauncher": {"config": {"k8sRunLaucher": {"envSecrets": [{"name": "x"}]}}}}) == {
        "runLauncher.config.k8sRunLaucher.envSecrets[].name"} - DOCUMENTED_PATHS


def test_values_match_the_image_and_the_instance() -> None:
    values, instance = _values(), _instance()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module = pyproject["tool"]["dagster"]["module_name"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]
    assert values["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert values["concurrency"]["runs"]["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["dequeueIntervalSeconds"] == instance["run_queue"]["dequeue_interval_seconds"]
    assert queued["dequeueUseThreads"] is instance["run_queue"]["dequeue_use_threads"] is True
    assert queued["dequeueNumWorkers"] == instance["run_queue"]["dequeue_num_workers"]

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f'"--module-name", "{module}"' in dockerfile and "sandbox" not in re.findall(r"EXTRAS=(\S+)",
                                                                                        dockerfile)[0]
    extras = pyproject["project"]["optional-dependencies"]
    assert set(re.findall(r"EXTRAS=(\S+)", dockerfile)[0].split(",")) <= set(extras)


def test_the_guide_makes_the_secrets_the_values_name_with_variables_crm_sync_reads() -> None:
    values = _values()
    guide = (ROOT / "deploy" / "README.md").read_text()
    made = set(re.findall(r"create secret generic (\S+)", guide))
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    named = {values["global"]["postgresqlSecretName"], *(s["name"] for s in deployment["envSecrets"]),
             *(s["name"] for s in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"])}
    assert named == made
    assert "--from-literal=postgresql-password=" in guide  # the key the chart reads
    variables = set(re.findall(r"--from-literal=([A-Z][A-Z0-9_]+)=", guide))
    read_by_crm_sync = {*SALESFORCE_ENV_VARS.values(), PLATFORM_URL_ENV, LANDING_URL_ENV}
    object_store = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert variables - object_store <= read_by_crm_sync, variables - object_store - read_by_crm_sync
