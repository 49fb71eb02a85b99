package io.powerproxy.upstream;

import io.powerproxy.config.StandinConfig;

/**
 * Where one attempt of a request goes: a whole endpoint, which serves any deployment under the name asked for,
 * or a stand-in, a real deployment at an endpoint that serves a virtual deployment.
 */
public sealed interface Target permits Target.WholeEndpoint, Target.Standin {

    Endpoint endpoint();

    /** The deployment name to send upstream for a request that asked for {@code requested}. */
    String deploymentFor(String requested);

    /** The stand-in's deployment name, or null for a whole endpoint. */
    String standinName();

    /** A short name for logs, e.g. {@code Sweden/gpt-4o-ptu}. */
    String describe();

    /** An endpoint without virtual deployments: requests keep their deployment name. */
    record WholeEndpoint(Endpoint endpoint) implements Target {
        @Override
        public String deploymentFor(String requested) {
            return requested;
        }

        @Override
        public String standinName() {
            return null;
        }

        @Override
        public String describe() {
            return endpoint.name();
        }
    }

    /** A stand-in deployment of a virtual deployment at an endpoint: requests are rewritten to its name. */
    record Standin(Endpoint endpoint, String virtualDeployment, StandinConfig standin) implements Target {
        @Override
        public String deploymentFor(String requested) {
            return standin.name();
        }

        @Override
        public String standinName() {
            return standin.name();
        }

        @Override
        public String describe() {
            return endpoint.name() + "/" + standin.name();
        }
    }
}
