# The crm_sync user-code image: the package and its production dependencies, never the sandbox (that is the
# optional extra crm_sync[sandbox]). Dagster's Helm chart runs it twice: as the code server of the
# `crm-sync` code location (`dagster api grpc`, the CMD below) and as the pod of every run (K8sRunLauncher).
# Build from the repository root:  docker build -t REGISTRY/crm-sync:TAG .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/crm_sync
COPY pyproject.toml README.md ./
COPY crm_sync ./crm_sync

# k8s: dagster-k8s, which every run pod needs to load the chart's instance (K8sRunLauncher);
# s3 / gcs: the fsspec driver of the raw landing's object store (CRM_SYNC_LANDING_URL).
ARG EXTRAS=k8s,s3
RUN pip install ".[${EXTRAS}]" && rm -rf /opt/crm_sync/build

# Not root; local data (only what is not on Postgres or object storage) under a directory it owns.
RUN useradd --uid 10001 --create-home --home-dir /var/lib/crm_sync crm_sync
ENV CRM_SYNC_DATA=/var/lib/crm_sync/data
USER 10001
WORKDIR /var/lib/crm_sync

EXPOSE 3030
CMD ["dagster", "api", "grpc", "--host", "0.0.0.0", "--port", "3030", "--module-name", "crm_sync.definitions"]
