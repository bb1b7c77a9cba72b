# Container image of Bitrix24Service: bitrix24-service (the gateway) and b24ctl (its client, used
# by the HEALTHCHECK) on a slim Debian 12 runtime, running as uid 10001. docs/container.md has the
# build and run commands; .ci/image builds it with podman and smoke-tests it.
#
#   podman build --format docker -t bitrix24-service .                 # this machine (local base)
#   docker build --build-arg BASE_IMAGE=debian:bookworm-slim -t bitrix24-service .
#
# Build arguments:
#   BASE_IMAGE      base of every stage (default: the locally made localhost/debian:bookworm-slim;
#                   elsewhere debian:bookworm-slim). Both stages must be the same Debian release.
#   RUN_TESTS       1 (default): the unit tests (ctest -L unit) must pass for the image to build.
#   EXTRA_PACKAGES  more Debian packages for the runtime, e.g. ODBC drivers "tdsodbc odbc-postgresql".
#   VERSION, REVISION  image labels (.ci/image passes the project version and the git commit).
# ccache: mount a cache directory at /ccache to make rebuilds fast (podman build -v DIR:/ccache);
# without it ccache is off. Paths are hashed relative to /src (CCACHE_BASEDIR), so a host build of
# the same commit with CCACHE_BASEDIR set to its source dir shares the cache entries.
ARG BASE_IMAGE=localhost/debian:bookworm-slim

# ---- build: .ci/setup (Debian packages + CMake/Ninja build), then the unit tests ----------------
FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive \
    CCACHE_DIR=/ccache \
    CCACHE_BASEDIR=/src \
    CCACHE_NOHASHDIR=1
# The packages first, in a layer of their own that is reused until .ci/setup changes: the very same
# script runs against an empty CMake project, so it installs its package list and builds nothing.
COPY .ci/setup /tmp/packages/.ci/setup
RUN printf 'cmake_minimum_required(VERSION 3.25)\nproject(packages NONE)\n' > /tmp/packages/CMakeLists.txt \
 && /tmp/packages/.ci/setup /tmp/packages/build \
 && rm -rf /tmp/packages /var/lib/apt/lists/*
WORKDIR /src
COPY . /src
# One step, so that this layer holds /out and not the build directory (about 1 GB):
# - ccache only when /ccache is a mounted cache directory (podman build -v DIR:/ccache), otherwise
#   its files would only grow this stage; the statistics of this build alone go to a stats log;
# - the unit tests only: integration and e2e tests need PostgreSQL/MariaDB servers and the client
#   packages' npm/pip installs (.ci/test runs them on the host). generate_check_test is left out:
#   it checks the git checkout (git ls-files) and client-sdk/node/node_modules, neither of which is
#   in the build context (.dockerignore);
# - /out: the binaries stripped for the runtime, and with their debug info in /out/debug.
ARG RUN_TESTS=1
RUN if grep -q ' /ccache ' /proc/self/mountinfo; then export CCACHE_STATSLOG=/tmp/ccache-stats.log; \
    else export CCACHE_DISABLE=1; echo "no cache mounted at /ccache: building without ccache"; fi \
 && .ci/setup build \
 && if [ -f /tmp/ccache-stats.log ]; then echo "ccache, this build:"; ccache --show-log-stats; rm -f /tmp/ccache-stats.log; fi \
 && if [ "$RUN_TESTS" = 1 ]; then \
      (cd build && ctest -L unit -E '^generate_check_test$' --output-on-failure --timeout 600 -j"$(nproc)"); \
    else echo "RUN_TESTS=$RUN_TESTS: unit tests skipped"; fi \
 && install -D -m 0755 -t /out/debug build/service/bitrix24-service build/client-sdk/cpp/b24ctl \
 && install -D -m 0755 -s -t /out build/service/bitrix24-service build/client-sdk/cpp/b24ctl \
 && rm -rf build

# ---- runtime: the two binaries, their shared libraries and the SOCI backends -------------------
FROM ${BASE_IMAGE} AS runtime
# The libraries `ldd` shows for bitrix24-service and b24ctl (docs/container.md says how to re-derive
# this list), plus what is loaded at run time by name: the SOCI backends (sqlite3://, postgresql://,
# mysql://, odbc://) and the CA certificates for https portals. The RUN after the COPY fails the
# build when a library is missing.
ARG EXTRA_PACKAGES=
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 zlib1g \
      libcurl4 libssl3 libyaml-cpp0.7 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libsoci-core4.0 libsoci-sqlite3-4.0 libsoci-postgresql4.0 libsoci-mysql4.0 libsoci-odbc4.0 \
      $EXTRA_PACKAGES \
      >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
RUN groupadd --system --gid 10001 bitrix24 \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/bitrix24-service --no-create-home \
      --shell /usr/sbin/nologin bitrix24 \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/bitrix24-service
COPY --from=build /out/bitrix24-service /out/b24ctl /usr/local/bin/
RUN set -e; files="/usr/local/bin/bitrix24-service /usr/local/bin/b24ctl"; \
    for backend in sqlite3 postgresql mysql odbc; do \
      f=$(echo /usr/lib/*/libsoci_$backend.so.4.0); [ -e "$f" ] || { echo "missing: libsoci_$backend.so.4.0"; exit 1; }; \
      files="$files $f"; \
    done; \
    ldd $files | awk '/:$/ { file = $1 } /not found/ { print "missing in the runtime image:", file, $1; bad = 1 } END { exit bad }'; \
    bitrix24-service --help >/dev/null
USER 10001:10001
WORKDIR /var/lib/bitrix24-service
VOLUME ["/var/lib/bitrix24-service"]
ENV B24_LISTEN=0.0.0.0:50051 \
    B24_STORE_URL=sqlite3://db=/var/lib/bitrix24-service/tokens.db
# 50051: gRPC. 9090: Prometheus metrics, once the gateway has metrics.listen (set it to 0.0.0.0:9090).
EXPOSE 50051 9090
# Exits 0 only when the server answers SERVING; follows the port of B24_LISTEN.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD b24ctl --target "127.0.0.1:${B24_LISTEN##*:}" --timeout 3 health
# SIGTERM: the gateway stops accepting calls, drains in-flight ones (shutdown_grace) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["bitrix24-service"]
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="bitrix24-service" \
      org.opencontainers.image.description="gRPC gateway in front of Bitrix24 portals" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION"
