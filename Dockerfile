# PowerProxy for Azure OpenAI (Java): container image.
#   docker build -t powerproxy .
#   docker run -p 8080:8080 -e POWERPROXY_CONFIG_STRING="$(cat config/config.local.yaml)" powerproxy
#   docker run -p 8080:8080 -v "$PWD/config:/app/config:ro" powerproxy --config-file /app/config/config.local.yaml
# Orchestrators probe GET /powerproxy/health/liveness and /powerproxy/health/readiness (no HEALTHCHECK here).
#
# The base images are build arguments: the defaults are public images; deploy/container/build-and-smoke.sh
# builds local stand-ins (a JDK + Maven build image, a glibc-only runtime image) where no registry can be reached.
#   BUILD_IMAGE    needs a JDK 21+ with jlink on PATH, and mvn on PATH
#   RUNTIME_IMAGE  needs glibc and a writable /tmp; nothing else (no shell, no Java: the runtime is jlink'd here)
ARG BUILD_IMAGE=maven:3.9-eclipse-temurin-25
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12

# ---- build ----------------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# The Java runtime first: this layer depends on the build image only.
# --strip-java-debug-attributes, not --strip-debug: the latter also strips native libraries and needs objcopy.
# The modules are what `jdeps --print-module-deps` names for the shaded jar, plus jdk.crypto.ec (TLS with
# EC keys to Azure and Redis; part of java.base since JDK 22, kept for a JDK 21 build image), jdk.zipfs, and
# java.instrument, without which -javaagent (the OpenTelemetry Java agent, README "Tracing (OpenTelemetry)") cannot start.
RUN jlink --add-modules java.base,java.compiler,java.desktop,java.management,java.naming,java.net.http,java.sql,jdk.httpserver,jdk.unsupported,jdk.crypto.ec,jdk.zipfs,java.instrument \
          --strip-java-debug-attributes --compress=zip-6 --no-man-pages --no-header-files --output /opt/jre \
 && mkdir -p /out/app/logs /out/app/plugins /app
# Dependencies next: this layer is reused until pom.xml changes.
COPY pom.xml ./
RUN mvn -B -q -ntp dependency:resolve dependency:resolve-plugins
COPY src ./src
RUN mvn -B -q -ntp package -DskipTests && cp target/powerproxy.jar /app/powerproxy.jar
# The AOT cache (JDK 25+): a training run of the image's own runtime and jar, at the paths they have in the image,
# under load for 20 s; the JVM options file tells the ENTRYPOINT to use it (empty where the runtime cannot make one).
COPY deploy/container/aot ./aot
RUN sh aot/train.sh /opt/jre/bin/java java /app/powerproxy.jar /out/app 20

# ---- runtime --------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="PowerProxy for Azure OpenAI" \
      org.opencontainers.image.description="Reverse proxy for Azure OpenAI: load balancing, usage logging, per-client limits"
# No RUN here: the runtime base has no shell. Files are owned by root and read-only for the proxy,
# except /app/logs (LogUsageToCsvFile's default folder).
COPY --from=build /opt/jre /opt/jre
COPY --from=build /app/powerproxy.jar /app/powerproxy.jar
COPY --from=build /out/app/jvm.options /out/app/powerproxy.aot /app/
COPY --from=build /out/app/plugins /app/plugins
COPY --from=build --chown=10001:10001 /out/app/logs /app/logs
WORKDIR /app
# A fixed numeric non-root user, so that runAsNonRoot policies can verify it without an /etc/passwd entry.
USER 10001:10001
EXPOSE 8080
ENV JAVA_HOME=/opt/jre
# JVM options for a proxy (why: README, "Container image"):
#   MaxRAMPercentage=75       heap from the container's memory limit; the rest for metaspace, code, buffers, stacks
#   UseZGC                    Generational ZGC (the default ZGC on JDK 23+; the runtime here is the build image's,
#                             25): pauses well under 1 ms with thousands of streams; without it a 1-CPU container
#                             would get SerialGC, whose pauses stop every stream at once
#   @/app/jvm.options         the AOT cache made in the build: the request path is compiled-ready sooner after start
#   no ExitOnOutOfMemoryError the proxy reports an OutOfMemoryError as failed liveness, so the orchestrator
#                             restarts it with SIGTERM, letting the other streams finish
ENTRYPOINT ["/opt/jre/bin/java", "@/app/jvm.options", "-XX:MaxRAMPercentage=75", "-XX:+UseZGC", "-jar", "/app/powerproxy.jar"]
CMD []
