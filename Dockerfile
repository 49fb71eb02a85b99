# PowerProxy for Azure OpenAI (Java): container image.
#   docker build -t powerproxy .
#   docker run -p 8080:8080 -e POWERPROXY_CONFIG_STRING="$(cat config/config.local.yaml)" powerproxy
#   docker run -p 8080:8080 -v "$PWD/config:/app/config:ro" powerproxy --config-file /app/config/config.local.yaml
# Orchestrators probe GET /powerproxy/health/liveness and /powerproxy/health/readiness (no HEALTHCHECK here).

# ---- build ----------------------------------------------------------------------------------
FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
# Dependencies first: this layer is reused until pom.xml changes.
COPY pom.xml ./
RUN mvn -B -q -ntp dependency:go-offline
COPY src ./src
RUN mvn -B -q -ntp package -DskipTests

# ---- runtime --------------------------------------------------------------------------------
FROM eclipse-temurin:25-jre-alpine
LABEL org.opencontainers.image.title="PowerProxy for Azure OpenAI" \
      org.opencontainers.image.description="Reverse proxy for Azure OpenAI: load balancing, usage logging, per-client limits"
# A fixed numeric non-root user, so runAsNonRoot policies can verify it.
RUN addgroup -S -g 10001 powerproxy \
 && adduser -S -D -H -u 10001 -G powerproxy -h /app powerproxy \
 && mkdir -p /app/plugins /app/logs \
 && chown powerproxy:powerproxy /app/logs
WORKDIR /app
COPY --from=build /src/target/powerproxy.jar /app/powerproxy.jar
USER 10001:10001
EXPOSE 8080
# Configuration: --config-file PATH, --config-env-var NAME, or the env var POWERPROXY_CONFIG_STRING.
# Third-party plugin jars go in /app/plugins; LogUsageToCsvFile writes to /app/logs by default.
ENTRYPOINT ["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/powerproxy.jar"]
CMD []
