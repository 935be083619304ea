# cowfs in a container: the CLI as entrypoint, a JRE 17, libfuse2 and fuse3 on Debian 12.
#
#   podman build -t cowfs .                          # stage "build": compiles the jar with Maven
#   mvn -B -DskipTests package && podman build -t cowfs --build-arg JAR=prebuilt .
#                                                    # stage "prebuilt": takes cli/target/cowfs.jar
#   --build-arg BASE=IMAGE         the runtime base (a Debian 12; default debian:bookworm-slim)
#   --build-arg BUILD_IMAGE=IMAGE  the build stage's Maven + JDK 17 image
#
# Where no image registry can be reached, BASE can be a locally imported Debian root filesystem
# (debootstrap --variant=minbase bookworm DIR && tar -C DIR -c . | podman import - debian-local)
# and JAR=prebuilt avoids the Maven image. Running it: README.md, "Containers"; docs/CONTAINERS.md.
ARG BASE=docker.io/library/debian:bookworm-slim
ARG BUILD_IMAGE=docker.io/library/maven:3.9-eclipse-temurin-17
ARG JAR=build

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY pom.xml ./
COPY blockstore blockstore
COPY fusefs fusefs
COPY cli cli
RUN rm -rf */target && mvn -B -q -DskipTests package && cp cli/target/cowfs.jar /cowfs.jar

FROM scratch AS prebuilt
COPY cli/target/cowfs.jar /cowfs.jar

FROM ${JAR} AS jar

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless libfuse2 fuse3 \
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
