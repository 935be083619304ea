# cowfs in a container: the CLI as entrypoint, a JRE 17, libfuse2 and fuse3 on Debian 12.
#
#   podman build -t cowfs .                          # stage "build": apt-get's JDK 17 and Maven on
#                                                    # BUILD_IMAGE compile the jar from the sources
#   mvn -B -DskipTests package && podman build -t cowfs --build-arg JAR=prebuilt .
#                                                    # stage "prebuilt": takes cli/target/cowfs.jar
#   --build-arg BASE=IMAGE         the runtime base (a Debian 12; default debian:bookworm-slim)
#   --build-arg BUILD_IMAGE=IMAGE  the build stage's base (default: BASE); one that has mvn and a
#                                  JDK 17+ already (maven:3.9-eclipse-temurin-17) skips the apt-get
#   --secret id=cacerts,src=FILE   CA certificates (PEM) the build stage trusts besides its own: a
#                                  TLS-intercepting proxy's, where Maven Central is reached through one
#
# No image registry needed: BASE (and so BUILD_IMAGE) can be a locally imported Debian root
# filesystem (debootstrap --variant=minbase bookworm DIR && tar -C DIR -c . | podman import -
# debian-local; --build-arg BASE=localhost/debian-local); the build then reaches only Debian's
# archive and Maven Central, through podman's default network (no --network host). The Maven
# repository is a cache mount kept between builds (RUN --mount: podman 4.3 tested; Docker needs
# BuildKit, its default since 23.0).
# Running it: README.md, "Containers"; docs/CONTAINERS.md (also the measured build times).
ARG BASE=docker.io/library/debian:bookworm-slim
# no defaults on these two: the FROM lines carry them (podman 4.3's buildah dropped the build stage
# as unused when BASE was given but JAR was not, with `ARG JAR=build` and `FROM ${JAR}`)
ARG BUILD_IMAGE
ARG JAR

FROM ${BUILD_IMAGE:-${BASE}} AS build
RUN if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven \
      && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi
WORKDIR /src
# the poms and sources only: not a cli/target/cowfs.jar the context may hold for JAR=prebuilt
COPY pom.xml ./
COPY blockstore/pom.xml blockstore/
COPY blockstore/src blockstore/src
COPY fusefs/pom.xml fusefs/
COPY fusefs/src fusefs/src
COPY cli/pom.xml cli/
COPY cli/src cli/src
# extra CAs (--secret id=cacerts) go into this stage's Java trust store only, one keytool call each
RUN --mount=type=secret,id=cacerts --mount=type=cache,target=/root/.m2/repository,sharing=locked \
    set -e; \
    if [ -s /run/secrets/cacerts ]; then \
      mkdir /tmp/ca && awk '/-BEGIN CERTIFICATE-/ {n++} n {print > ("/tmp/ca/" n ".pem")}' /run/secrets/cacerts; \
      for c in /tmp/ca/*.pem; do \
        keytool -importcert -noprompt -cacerts -storepass changeit -alias "cowfs-build-ca-${c##*/}" -file "$c" >/dev/null; \
      done; \
      rm -rf /tmp/ca; \
    fi; \
    mvn -B -q -Dmaven.test.skip=true package && cp cli/target/cowfs.jar /cowfs.jar && rm -rf */target

FROM scratch AS prebuilt
COPY cli/target/cowfs.jar /cowfs.jar

FROM ${JAR:-build} AS jar

FROM ${BASE}
# libipsec-mb1 (x86-64 only): SHA-256 of several blocks at once (docs/DESIGN-DECISIONS.md, 13)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless libfuse2 fuse3 libssl3 \
    $([ "$(dpkg --print-architecture)" = amd64 ] && echo libipsec-mb1) \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY --from=jar /cowfs.jar /opt/cowfs/cowfs.jar
COPY cowfs /opt/cowfs/cowfs
ENV COWFS_JAR=/opt/cowfs/cowfs.jar COWFS_CDS=/opt/cowfs/cowfs.jsa COWFS_STORE=/store LC_ALL=C.UTF-8
# the class-data-sharing archive every user of the image shares (read-only), then mount.cowfs
# (mount -t fuse.cowfs) and bash/zsh completion
RUN ln -s /opt/cowfs/cowfs /usr/local/bin/cowfs \
 && /opt/cowfs/cowfs --build-cds-archive /opt/cowfs/cowfs.jsa \
 && cowfs install-helpers --cowfs /usr/local/bin/cowfs \
 && mkdir -p /store /mnt/cowfs
VOLUME /store
ENTRYPOINT ["/usr/local/bin/cowfs"]
CMD ["--help"]
