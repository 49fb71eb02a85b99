# PowerProxy for Azure OpenAI (Java). `make help` lists the targets.
#
# Every java and mvn call runs with a JDK 21 or newer found by .ci/find-jdk ($JAVA_HOME when it is
# new enough, else the newest one under the usual folders), exported as JAVA_HOME and first in PATH.

.DEFAULT_GOAL := help
SHELL := /bin/sh

JAR := target/powerproxy.jar
# `make run` starts on config/config.local.yaml when it exists, else on the demo config (mock upstream).
# CONFIG=path overrides both; `make validate` needs it.
RUN_CONFIG = $(or $(CONFIG),$(if $(wildcard config/config.local.yaml),config/config.local.yaml,config/demo.yaml))
ARGS ?=
# Extra Maven options, e.g. MVN_ARGS="-o" (offline); TEST=ClassName[#method] runs only those tests.
MVN_ARGS ?=
TEST ?=

# Found once, and only by targets that need them (help and clean work without a JDK or Maven).
JDK_HOME = $(or $(_jdk_home),$(eval _jdk_home := $(shell ./.ci/find-jdk))$(or $(_jdk_home),$(error No JDK 21 or newer found; see the message above)))
MVN_BIN = $(or $(_mvn_bin),$(eval _mvn_bin := $(shell command -v mvn 2>/dev/null))$(or $(_mvn_bin),$(error Maven (mvn) is not on PATH. Install Maven 3.8 or newer, e.g. `apt-get install maven`)))
WITH_JDK = JAVA_HOME='$(JDK_HOME)' PATH='$(JDK_HOME)/bin':"$$PATH"
# On JDK 24+ Maven 3.8/3.9's bundled Guava prints sun.misc.Unsafe warnings on every run; the flag
# that silences them does not exist before JDK 23, so it is passed only when the JDK is new enough.
JDK_MAJOR = $(shell sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' '$(JDK_HOME)/release' 2>/dev/null)
MVN_JVM_FLAGS = $(shell [ "$(JDK_MAJOR)" -ge 24 ] 2>/dev/null && echo --sun-misc-unsafe-memory-access=allow)
JAVA = $(WITH_JDK) java
MVN = $(WITH_JDK) MAVEN_OPTS="$(MVN_JVM_FLAGS) $${MAVEN_OPTS:-}" '$(MVN_BIN)' -B -ntp $(MVN_ARGS)

# The test matrix: `make test` runs the end-to-end tests a second time on a real Java 21 (Debian 13's OpenJDK, made once
# by `make java21` as root, see .ci/java21-runtime) when one is on this machine. JAVA21=skip leaves that run out
# (the default with TEST=..., so that one class runs once; JAVA21=auto runs it on both); JAVA21=require (the default
# when CI is set) fails when there is no Java 21 runtime.
JAVA21 ?= $(if $(CI),require,$(if $(TEST),skip,auto))

.PHONY: help jar run test java21 validate clean bench bench-smoke soak

ifneq ($(filter validate,$(MAKECMDGOALS)),)
ifeq ($(strip $(CONFIG)),)
$(error CONFIG is empty: use `make validate CONFIG=path/to/config.yaml`)
endif
endif

help:
	@echo "PowerProxy for Azure OpenAI (Java)"
	@echo
	@echo "  make jar                    build $(JAR) (only when sources or pom.xml changed)"
	@echo "  make run [ARGS=...]         build if needed, then start on config/config.local.yaml"
	@echo "                              if it exists, else config/demo.yaml (CONFIG=path overrides)"
	@echo "                              e.g. make run ARGS=\"--port 9090\""
	@echo "  make test [TEST=Class]      run the test suite (mvn test) on this JDK, then the end-to-end"
	@echo "                              tests on Java 21 too when \`make java21\` has made it (JAVA21=skip: not;"
	@echo "                              with TEST, JAVA21=auto runs the named tests on both)"
	@echo "  make java21                 make the Java 21 runtime of the test matrix (root, debootstrap, ~1-5 min)"
	@echo "  make validate CONFIG=path   check a config file and exit 0 or 1 with its errors"
	@echo "  make clean                  remove target/"
	@echo "  make bench [BENCH_ARGS=...] benchmark the proxy beside the mock upstream alone, nginx and a bare"
	@echo "                              JDK relay (the floor), over HTTP and TLS, tuned and default settings"
	@echo "                              (about 13 min, at most 15; writes bench/results/; see bench/run.sh --help)"
	@echo "  make bench-smoke            every benchmark step, briefly; fails on any error or lost event"
	@echo "  make soak [SOAK_MINUTES=30] mixed streaming and non-streaming load for 30 min: RSS over time"
	@echo "                              (must plateau), errors, usage rows against answers; writes"
	@echo "                              bench/results/ (see bench/soak.sh --help; SOAK_ARGS=... passes options)"
	@echo
	@echo "Needs a JDK 21 or newer (found by .ci/find-jdk; set JAVA_HOME to choose one) and Maven."

jar: $(JAR)

# Folders too, so that deleting or renaming a source file also rebuilds.
$(JAR): pom.xml $(shell find src/main 2>/dev/null)
	@echo "mvn package -DskipTests (JAVA_HOME=$(JDK_HOME))"
	@$(MVN) -q package -DskipTests
	@touch $@

run: $(JAR)
	@echo "java -jar $(JAR) --config-file $(RUN_CONFIG) $(ARGS)"
	@$(JAVA) -jar $(JAR) --config-file $(RUN_CONFIG) $(ARGS)

test:
	@j21=''; \
	if [ "$(JAVA21)" != skip ]; then \
	  if j21=$$(./.ci/java21-runtime --find); then :; \
	  elif [ "$(JAVA21)" = require ]; then echo "No Java 21 runtime for the test matrix: run \`make java21\` as root" >&2; exit 1; \
	  else echo "(no Java 21 runtime on this machine: the end-to-end tests run on this JDK only; \`make java21\` makes one)"; fi; \
	fi; \
	echo "mvn test: all tests on Java $(JDK_MAJOR) (JAVA_HOME=$(JDK_HOME))"; \
	if [ -n "$$j21" ]; then echo "          then the end-to-end tests on $$("$$j21/bin/java" -version 2>&1 | head -n 1) ($$j21): surefire execution java21-end-to-end"; fi; \
	$(MVN) test $(if $(TEST),-Dtest='$(TEST)' -Dsurefire.failIfNoSpecifiedTests=false) $${j21:+"-Djava21.home=$$j21"}

java21:
	@./.ci/java21-runtime

validate: $(JAR)
	@$(JAVA) -jar $(JAR) --config-file $(CONFIG) --validate

# bench/run.sh builds the jar itself (make jar) and finds the same JDK; BENCH_ARGS passes options.
BENCH_ARGS ?=

bench:
	@$(WITH_JDK) bench/run.sh $(BENCH_ARGS)

bench-smoke:
	@$(WITH_JDK) bench/run.sh --smoke $(BENCH_ARGS)

# Not part of make bench (which must stay short) nor of CI. SOAK_MINUTES=3 makes a short run, labelled as such.
SOAK_MINUTES ?= 30
SOAK_ARGS ?=

soak:
	@$(WITH_JDK) SOAK_MINUTES='$(SOAK_MINUTES)' bench/soak.sh $(SOAK_ARGS)

clean:
	rm -rf target
