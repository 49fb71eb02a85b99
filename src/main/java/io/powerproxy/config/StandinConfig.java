package io.powerproxy.config;

/**
 * A real deployment that serves a virtual deployment.
 *
 * @param name the deployment's name at the endpoint
 * @param nonStreamingFraction share of non-streaming requests it takes, 0..1
 * @param priority lower is tried first; defaults to the stand-in's position within its virtual deployment
 * @param weight relative share among stand-ins of equal priority, positive
 * @param path where it is in the config
 */
public record StandinConfig(String name, double nonStreamingFraction, int priority, double weight, String path) {
}
