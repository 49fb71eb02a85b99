package io.powerproxy.config;

import java.util.List;

/** The configuration cannot be used; carries every problem found, each starting with its config path. */
public final class ConfigException extends Exception {

    private final List<String> problems;

    /** Creates the exception for one or more problems; the list must not be empty. */
    public ConfigException(List<String> problems) {
        super(String.join("\n", problems));
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("a ConfigException needs at least one problem");
        }
        this.problems = List.copyOf(problems);
    }

    /** Creates the exception for a single problem. */
    public ConfigException(String problem) {
        this(List.of(problem));
    }

    /** Every problem found, in the order found; none contains a secret. */
    public List<String> problems() {
        return problems;
    }
}
