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

    /** Share of non-streaming requests this target takes (stand-in level; the endpoint's applies too). */
    double nonStreamingFraction();

    /**
     * Until when (balancer clock, ms) this target is blocked for a request of that deployment: Azure throttles
     * per deployment, so a whole endpoint is blocked per deployment name, a stand-in by itself.
     */
    long blockedUntil(String deployment);

    /** Blocks this target for that deployment until {@code until} (balancer clock, ms), unless blocked longer. */
    void blockUntil(String deployment, long until, long now);

    /** The block of this target for that deployment, which counts its timeouts in a row. */
    FaultBlock faults(String deployment, long now);

    /** An answer for that deployment arrived: its next timeout counts as the first again. */
    void answered(String deployment);

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

        @Override
        public double nonStreamingFraction() {
            return 1;
        }

        @Override
        public long blockedUntil(String deployment) {
            return endpoint.deploymentBlockedUntil(deployment);
        }

        @Override
        public void blockUntil(String deployment, long until, long now) {
            endpoint.deploymentBlock(deployment, now).blockUntil(until);
        }

        @Override
        public FaultBlock faults(String deployment, long now) {
            return endpoint.deploymentBlock(deployment, now);
        }

        @Override
        public void answered(String deployment) {
            endpoint.deploymentAnswered(deployment);
        }
    }

    /** A stand-in deployment of a virtual deployment at an endpoint: requests are rewritten to its name. */
    record Standin(Endpoint endpoint, String virtualDeployment, StandinConfig standin, FaultBlock blocked)
            implements Target {

        Standin(Endpoint endpoint, String virtualDeployment, StandinConfig standin) {
            this(endpoint, virtualDeployment, standin, endpoint.standinBlock(virtualDeployment, standin.name()));
        }

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

        @Override
        public double nonStreamingFraction() {
            return standin.nonStreamingFraction();
        }

        @Override
        public long blockedUntil(String deployment) {
            return blocked.until();
        }

        @Override
        public void blockUntil(String deployment, long until, long now) {
            blocked.blockUntil(until);
        }

        @Override
        public FaultBlock faults(String deployment, long now) {
            return blocked;
        }

        @Override
        public void answered(String deployment) {
            blocked.answered();
        }
    }
}
