package io.powerproxy.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.logging.Printable;
import io.powerproxy.pipeline.ProxyException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

/**
 * The names a request routes by, checked against what Azure itself accepts: a deployment name (in the path or a
 * JSON body's {@code model}) and the {@code api-version}. A name Azure could not have is refused before it reaches a
 * plugin, a log line, a usage record or an upstream.
 *
 * <p>Azure lets a deployment name hold letters, digits, {@code -}, {@code _} and {@code .} (for example
 * {@code gpt-4.1-mini}), at most 64 of them, like other Azure resource names; API versions are dates with an
 * optional suffix ({@code 2025-04-01-preview}) or words such as {@code preview}.
 */
final class AzureNames {

    /** The longest deployment name or api-version accepted. */
    static final int MAX_LENGTH = 64;

    private AzureNames() {
    }

    /**
     * The deployment name, unchanged, or null for null.
     *
     * @param where where the name came from, for the message, e.g. "in the path"
     * @throws ProxyException 400 {@code InvalidDeploymentName} for a name Azure does not allow
     */
    static String deployment(String name, String where) {
        if (name == null || allowed(name)) {
            return name;
        }
        throw ProxyException.of(400, "InvalidDeploymentName", "The deployment name " + quoted(name) + " (" + where
                + ") is not one Azure allows: use 1 to " + MAX_LENGTH
                + " letters, digits, '-', '_' or '.', e.g. gpt-4o or gpt-4.1-mini.");
    }

    /**
     * The deployment a JSON body names in its {@code model}, for a request whose path names none (the v1 API,
     * Responses, Assistants, runs...); null when the body is no JSON object or has no {@code model}.
     *
     * @param json the request body as a JSON object, or null
     * @throws ProxyException 400 {@code InvalidDeploymentName} for a {@code model} that is no string or no name Azure
     *     allows
     */
    static String deploymentInBody(JsonNode json) {
        JsonNode model = json == null ? null : json.get("model");
        if (model == null || model.isNull()) {
            return null;
        }
        if (!model.isTextual()) {
            throw ProxyException.of(400, "InvalidDeploymentName", "The body's model must be a deployment name in"
                    + " quotes, e.g. \"model\": \"gpt-4o\".");
        }
        return deployment(model.textValue(), "in the body's model");
    }

    /**
     * Checks every {@code api-version} parameter of a raw query.
     *
     * @throws ProxyException 400 {@code InvalidApiVersion} for a value that is no API version
     */
    static void apiVersions(String rawQuery) {
        if (rawQuery == null) {
            return;
        }
        for (String pair : rawQuery.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals("api-version")) {
                String value;
                try {
                    value = URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
                } catch (IllegalArgumentException badEncoding) {
                    throw invalidApiVersion();
                }
                if (!allowed(value)) {
                    throw invalidApiVersion();
                }
            }
        }
    }

    private static boolean allowed(String name) {
        if (name.isEmpty() || name.length() > MAX_LENGTH) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    private static String quoted(String name) {
        String shown = name.length() > MAX_LENGTH ? name.substring(0, MAX_LENGTH) + "..." : name;
        return "'" + Printable.of(shown) + "'";
    }

    private static ProxyException invalidApiVersion() {
        return ProxyException.of(400, "InvalidApiVersion", "The api-version query parameter is not an API version:"
                + " use 1 to " + MAX_LENGTH + " letters, digits, '-', '_' or '.', e.g. api-version=2024-10-21.");
    }
}
