package io.powerproxy.config;

/** Masks secrets for banners and logs: at most the last four characters stay visible. */
public final class Secrets {

    private Secrets() {
    }

    /**
     * Whether a setting of this name holds a secret ({@code key}, {@code password}, {@code connection_string},
     * {@code token}...): its value is never shown in a message.
     */
    public static boolean isSecretName(String name) {
        return ConfigLoader.isSecretName(name);
    }

    /** Returns {@code null} for null, else stars with at most the last 4 characters (none for short secrets). */
    public static String mask(String secret) {
        if (secret == null) {
            return null;
        }
        if (secret.length() < 12) {
            return "****";
        }
        return "****" + secret.substring(secret.length() - 4);
    }
}
