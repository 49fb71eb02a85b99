package io.powerproxy.server;

import io.powerproxy.pipeline.ProxyException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * A client's request path, checked so that it can only ever name a resource on the chosen endpoint, and read
 * for the deployment it asks for ({@code /openai/deployments/{d}/...}) and whether it is a v1 API call
 * ({@code /openai/v1/...}, which accepts {@code stream_options} whatever its {@code api-version}).
 *
 * @param rawPath the percent-encoded path, starting with a single {@code /}
 * @param rawQuery the percent-encoded query, or null
 * @param deployment the decoded deployment name from the path, or null
 * @param v1 whether this is a v1 API call
 */
record RequestPath(String rawPath, String rawQuery, String deployment, boolean v1) {

    private static final String DEPLOYMENTS_PREFIX = "/openai/deployments/";
    private static final String V1_PREFIX = "/openai/v1/";

    /**
     * Checks and reads the URI of a request line.
     *
     * @throws ProxyException 400 {@code InvalidPath} for absolute URLs, {@code //}, dot segments (also encoded) and
     *     backslashes; 400 {@code InvalidDeploymentName} or {@code InvalidApiVersion} for names Azure does not allow
     *     (see {@link AzureNames})
     */
    static RequestPath parse(URI uri) {
        if (uri.getScheme() != null || uri.getRawAuthority() != null) {
            throw invalid("absolute URLs are not accepted; send the path only, e.g. /openai/deployments/{name}/chat/completions");
        }
        String path = uri.getRawPath();
        if (path == null || path.isEmpty() || path.charAt(0) != '/') {
            throw invalid("the path must start with /");
        }
        if (path.startsWith("//")) {
            throw invalid("the path must not start with //");
        }
        // Checks that no segment can climb out of, or re-root, the endpoint's path once decoded.
        int start = 1;
        while (start <= path.length()) {
            int end = path.indexOf('/', start);
            if (end < 0) {
                end = path.length();
            }
            String segment = path.substring(start, end);
            if (segment.indexOf('%') >= 0 || segment.indexOf('.') >= 0 || segment.indexOf('\\') >= 0) {
                String decoded = decode(segment);
                if (decoded.equals(".") || decoded.equals("..") || decoded.indexOf('/') >= 0 || decoded.indexOf('\\') >= 0) {
                    throw invalid("the path must not contain '.', '..', '\\' or encoded '/' segments");
                }
            }
            start = end + 1;
        }
        String deployment = null;
        if (path.startsWith(DEPLOYMENTS_PREFIX)) {
            int end = path.indexOf('/', DEPLOYMENTS_PREFIX.length());
            String segment = path.substring(DEPLOYMENTS_PREFIX.length(), end < 0 ? path.length() : end);
            if (!segment.isEmpty()) {
                deployment = AzureNames.deployment(decode(segment), "in the path");
            }
        }
        AzureNames.apiVersions(uri.getRawQuery());
        return new RequestPath(path, uri.getRawQuery(), deployment, path.startsWith(V1_PREFIX));
    }

    /** The raw path with the deployment segment replaced by another deployment name. */
    String withDeployment(String name) {
        if (deployment == null || name.equals(deployment)) {
            return rawPath;
        }
        int start = DEPLOYMENTS_PREFIX.length();
        int end = rawPath.indexOf('/', start);
        String encoded = URLEncoder.encode(name, StandardCharsets.UTF_8).replace("+", "%20");
        return rawPath.substring(0, start) + encoded + (end < 0 ? "" : rawPath.substring(end));
    }

    private static String decode(String segment) {
        try {
            return URLDecoder.decode(segment.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw invalid("the path has an invalid percent-encoding");
        }
    }

    private static ProxyException invalid(String why) {
        return ProxyException.of(400, "InvalidPath", "Invalid request path: " + why + ".");
    }
}
