# finetuned: an HTTP fine-tuning service (see README.md and deploy/README.md).
#
#   docker build -t finetuned .
#   docker run -d --name finetuned -p 8080:8080 -v finetuned-data:/var/lib/finetuned \
#       -e FINETUNED_API_KEY=change-me --stop-timeout 30 finetuned
#
# The package lists below are the single source of truth for what the image
# holds: tools/check_image_deps.sh parses them, builds the binary the way the
# build stage does, and checks with ldd + dpkg -S that every shared library
# it needs comes from a runtime package, with no container engine; make
# container-test builds and runs the image with podman.

# ---- build: the -dev packages, and `make` ----
FROM debian:bookworm-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        pkg-config \
        libarchive-dev \
        libjansson-dev \
        libjpeg62-turbo-dev \
        libmicrohttpd-dev \
        libonnx-dev \
        libopenblas-dev \
        libpng-dev \
        libprotobuf-c-dev \
        protobuf-c-compiler \
        libsqlite3-dev \
        libpq-dev \
        libcurl4-openssl-dev \
        nettle-dev \
        zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the binary is built from (.dockerignore keeps the rest out), so
# an edit to tests or docs does not invalidate the build layer.
COPY Makefile ./
COPY core/ core/
COPY server/ server/
COPY migrations/ migrations/
# The dashboard, embedded in the binary by this generator.
COPY ui/ ui/
COPY tools/embed_ui.c tools/
# Stripped: the debug info is most of the binary and no one debugs in the
# image (build the same commit outside it for that).
RUN make -j"$(nproc)" build/finetuned && strip build/finetuned

# ---- runtime: only the shared libraries the binary links, and wget ----
FROM debian:bookworm-slim
# wget, not curl, for the HEALTHCHECK: it is one small package whose
# libraries (gnutls, idn2) the service already pulls in. libcurl4 (OpenSSL
# flavour, which brings libssl3) is the webhooks' HTTP client.
# dpkg leaves out the packages' documentation, manuals and translations
# (the licences stay), and apt-get clean drops the downloaded .debs and
# apt's caches, which would otherwise stay in the layer (about 100 MB).
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
        'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
        > /etc/dpkg/dpkg.cfg.d/finetuned-nodoc \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        libarchive13 \
        libjansson4 \
        libjpeg62-turbo \
        libmicrohttpd12 \
        libnettle8 \
        libopenblas0-pthread \
        libpng16-16 \
        libprotobuf-c1 \
        libsqlite3-0 \
        libpq5 \
        libcurl4 \
        zlib1g \
        wget \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it and volume
# ownership stays the same across image rebuilds.
RUN groupadd --system --gid 10001 finetuned \
    && useradd --system --uid 10001 --gid finetuned --home-dir /var/lib/finetuned \
        --no-create-home --shell /usr/sbin/nologin finetuned \
    && install -d -o finetuned -g finetuned -m 0750 /var/lib/finetuned

# The binary finds its migrations in ../share/finetuned/migrations.
COPY --from=build /src/build/finetuned /usr/local/bin/finetuned
COPY --from=build /src/migrations/ /usr/local/share/finetuned/migrations/

# Every serve flag is also a FINETUNED_* variable (`finetuned serve --help`).
# Inside a container the service must listen on all interfaces; publish the
# port with -p and always set FINETUNED_API_KEY (or FINETUNED_API_KEY_FILE):
# without a key anyone who reaches the port can use the API (the service
# logs a warning at start-up), and only IP addresses and localhost are
# accepted as Host (FINETUNED_ALLOWED_HOSTS adds names).
ENV FINETUNED_LISTEN=0.0.0.0:8080 \
    FINETUNED_DATA_DIR=/var/lib/finetuned

# Created after the chown above, so a new named volume starts owned by
# finetuned.
VOLUME ["/var/lib/finetuned"]
EXPOSE 8080
USER 10001:10001

# /healthz is "the process is alive" (it needs no API key). The port comes
# from FINETUNED_LISTEN so a changed listen port does not fail the check;
# --no-proxy because a proxy set for outbound traffic must not catch it.
# The CMD runs in /bin/sh, which expands ${VAR##*:}; dockerfile-utils checks
# it like a build-time substitution, hence the next line.
# dockerfile-utils: ignore
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD wget --quiet --tries=1 --timeout=4 --no-proxy -O /dev/null "http://127.0.0.1:${FINETUNED_LISTEN##*:}/healthz" || exit 1

# On SIGTERM the service stops accepting, checkpoints running jobs and
# requeues them, which takes up to ~10 s: Docker's default 10 s grace is too
# short, so run with --stop-timeout 30 (compose: stop_grace_period: 30s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/finetuned"]
CMD ["serve"]
