# Mitos: one image for every topology.
#
#   podman build -t mitos .            (or docker build)
#   podman run -p 8080:8080 mitos                    every module, image config
#   podman run -p 8080:8080 mitos --modules=users    one module, as a pod runs it
#
# The builder runs the project's CMake build and its unit, HTTP, CLI, binary
# and boundary tests (everything but the Python end-to-end suite). The
# runtime stage holds the binary, the shared libraries it links and the
# default config; it runs as a numeric non-root user with its data in a
# volume.

FROM debian:bookworm-slim AS build

# The build dependencies of .ci/deps.sh, without the Python test tools.
# python3 with jinja2 and yaml runs the contract generator and the checks
# of tests/arch and tests/cli; curl, ss and ps are for the tests of the
# binary and the server. The tests that need pytest, node or the npm
# registry (e2e, openapi, contract), those that read the Kubernetes
# manifests (k8s, and events.split.flow, which checks the events dashboard
# there), whose folder is not in the build context, the scaffold test
# (which builds a second copy of the tree from a git checkout), and those
# that need a PostgreSQL server (storage.postgres, events.postgres, and
# tools, which moves a module's data into one) run outside the image build.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake make pkg-config ca-certificates curl iproute2 procps \
      libcpp-httplib-dev libsqlitecpp-dev libsqlite3-dev nlohmann-json3-dev \
      libcli11-dev libyaml-cpp-dev libgtest-dev libgmock-dev zlib1g-dev \
      libnats-dev nats-server libpq-dev python3 python3-jinja2 python3-yaml \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

ARG REVISION=unknown
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMITOS_BUILD_TESTS=ON \
      -DMITOS_GIT_COMMIT="${REVISION}" \
 && cmake --build build -j"$(nproc)" \
 && ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 300 -E '^(e2e|openapi|contract|k8s|scaffold|tools)\.|^(storage|events)\.postgres|^events\.split\.flow$' \
 && strip build/mitos

FROM debian:bookworm-slim

# The shared libraries the binary links (`ldd /usr/local/bin/mitos`):
# cpp-httplib is a shared library in Debian, linked with OpenSSL, brotli and
# zlib; SQLiteCpp is linked statically; libpq for the PostgreSQL storage;
# libstdc++ is in the base image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpp-httplib0.11 libsqlite3-0 libyaml-cpp0.7 libssl3 libbrotli1 zlib1g \
      libnats3.4 libpq5 \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log

# A numeric user, so that Kubernetes can check runAsNonRoot.
RUN groupadd --system --gid 10001 mitos \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/mitos --shell /usr/sbin/nologin mitos \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/mitos

COPY --from=build /src/build/mitos /usr/local/bin/mitos
COPY config/mitos.yaml /etc/mitos/mitos.yaml

# Every module's <module>.db lives in the volume, whatever the arguments:
# the environment overrides the config file's data_dir (flags still win,
# e.g. --data-dir).
ENV MITOS_DATA_DIR=/var/lib/mitos
VOLUME ["/var/lib/mitos"]
WORKDIR /var/lib/mitos
USER 10001:10001
EXPOSE 8080

ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="mitos" \
      org.opencontainers.image.description="Mitos: a modular monolith, one binary for every topology" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# Exec form: mitos is PID 1 and receives SIGTERM itself (it waits for
# signals on a thread of its own), drains and exits 0. Arguments given to
# `run` replace CMD and go straight to mitos.
ENTRYPOINT ["/usr/local/bin/mitos"]
CMD ["--config", "/etc/mitos/mitos.yaml"]
