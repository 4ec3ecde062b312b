# syntax=docker/dockerfile:1
# plan-watcher container image. Two stages:
#   builder  builds the plan-watcher wheel and downloads the runtime dependencies exactly as
#            requirements.lock pins them, each file checked against its hash (no extras: the
#            sandbox's moto and the dev tools never reach the image);
#   runtime  a fresh venv with only that wheelhouse installed, run as a fixed non-root user.
# `make image-test` builds and runs it; tests/e2e/test_container_install.py repeats the
# install steps outside a container.
# Both stages must use the same Python: the wheelhouse holds compiled (cp3XX) wheels.
# PYTHON_IMAGE takes a digest too (docs/deployment.md): python:3.12.8-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m pip install --no-cache-dir build==1.2.2.post1
# Only what the wheel is built from and the lock; .dockerignore keeps the rest of the tree
# out. README.md (the wheel's long description) is left out on purpose: an image needs none.
COPY pyproject.toml requirements.lock ./
COPY watcher/ ./watcher/
# Wheels only: a wheel built here from a source archive would not match the lock's hashes.
RUN python -m build --wheel --outdir /wheelhouse \
    && python -m pip download --no-cache-dir --require-hashes --only-binary=:all: \
        --dest /wheelhouse -r requirements.lock \
    && cp requirements.lock /wheelhouse/

FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
ARG GID=10001
LABEL org.opencontainers.image.title="plan-watcher" \
      org.opencontainers.image.description="Keeps SageMaker training plans from expiring under running work" \
      org.opencontainers.image.licenses="Apache-2.0"
# The root filesystem may be mounted read-only: no bytecode written at run time, logs go
# straight to stdout, HOME is the state volume (nothing is written there but the journal),
# temporary files go to /tmp (mount a tmpfs or emptyDir there).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/var/lib/plan-watcher \
    TMPDIR=/tmp \
    PATH=/opt/plan-watcher/bin:$PATH \
    PLAN_WATCHER_CONFIG=/etc/plan-watcher/watcher.yaml
RUN groupadd --system --gid "${GID}" plan-watcher \
    && useradd --system --uid "${UID}" --gid "${GID}" --no-create-home \
        --home-dir /var/lib/plan-watcher --shell /usr/sbin/nologin plan-watcher \
    && install -d -o "${UID}" -g "${GID}" -m 0750 /var/lib/plan-watcher \
    && install -d -m 0755 /etc/plan-watcher
# The runtime install: a fresh venv, the locked dependencies (hashes checked again) and the
# wheel from the builder's wheelhouse, nothing from the network; `pip check` proves the lock
# covers what the wheel requires. The wheelhouse is bind-mounted, so it leaves no layer.
RUN --mount=type=bind,from=builder,source=/wheelhouse,target=/wheelhouse \
    python -m venv /opt/plan-watcher \
    && /opt/plan-watcher/bin/pip install --no-cache-dir --no-index --find-links=/wheelhouse \
        --require-hashes --only-binary=:all: -r /wheelhouse/requirements.lock \
    && /opt/plan-watcher/bin/pip install --no-cache-dir --no-index --no-deps \
        /wheelhouse/sagemaker_plan_watcher-*.whl \
    && /opt/plan-watcher/bin/pip check \
    && /opt/plan-watcher/bin/plan-watcher --help >/dev/null
# The default config (one account, ambient credentials, journal on the state volume).
# Kubernetes mounts a ConfigMap over /etc/plan-watcher; on ECS, point --config elsewhere.
COPY --chmod=0644 config/watcher.yaml /etc/plan-watcher/watcher.yaml
USER ${UID}:${GID}
WORKDIR /var/lib/plan-watcher
VOLUME ["/var/lib/plan-watcher"]
EXPOSE 9108
# /healthz fails when no reconcile cycle completed in 3 x poll interval; no curl in the
# image, so the standard library asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status == 200 else 1)"]
# Exec form: plan-watcher is PID 1 and receives SIGTERM itself (it installs its own handler).
ENTRYPOINT ["plan-watcher"]
CMD ["run", "--config", "/etc/plan-watcher/watcher.yaml"]
