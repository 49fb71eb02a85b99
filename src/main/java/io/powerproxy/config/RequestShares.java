package io.powerproxy.config;

import java.util.Map;

/**
 * Reads how an endpoint or a stand-in shares requests with its peers (non_streaming_fraction, priority, weight), the
 * same way for both, and checks that the last one takes every non-streaming request the others leave.
 */
final class RequestShares {

    private final SettingReader read;
    private final ConfigProblems problems;

    RequestShares(SettingReader read, ConfigProblems problems) {
        this.read = read;
        this.problems = problems;
    }

    double nonStreamingFraction(Map<String, Object> target, String path) {
        return read.decimal(target, "non_streaming_fraction", path, 1, d -> d >= 0 && d <= 1, "a number between 0 and 1");
    }

    /** Lower is tried first; by default, the position in the config. */
    int priority(Map<String, Object> target, String path, int position) {
        return read.whole(target, "priority", path, position, Integer.MIN_VALUE, "a whole number");
    }

    double weight(Map<String, Object> target, String path) {
        return read.decimal(target, "weight", path, 1, d -> d > 0, "a positive number");
    }

    /** {@code what} is "endpoint" or "stand-in". */
    void checkLastTakesAll(String path, double nonStreamingFraction, String what) {
        if (nonStreamingFraction != 1) {
            problems.add(path + ".non_streaming_fraction must be 1 for the last " + what
                    + " (otherwise some non-streaming requests find no " + what + ")");
        }
    }
}
