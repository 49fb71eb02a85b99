package io.powerproxy.server;

import com.sun.net.httpserver.HttpExchange;
import io.powerproxy.pipeline.ProxyException;
import java.util.List;
import java.util.Map;

/**
 * The bounds on a request's line and headers, checked before anything else looks at the request: a request beyond
 * them, or with a method that is no HTTP token, is refused and never reaches a plugin or an upstream.
 *
 * <p>The header bounds are the defaults of ASP.NET Core's Kestrel: 32 KiB of headers and 100 header lines; nginx's
 * default ({@code large_client_header_buffers 4 8k}) also allows 32 KiB. The request target may take 16 KiB, twice
 * the 8 KiB line that nginx and Kestrel take by default: Azure OpenAI URLs are short, and the bound is only there
 * to stop what no client needs. The JDK's server has bounds of its own, further out (200 header names, 380 KiB):
 * a request beyond those is dropped by it without any answer, before the proxy sees it.
 */
final class RequestLimits {

    /** Bytes of header lines, counted as they are sent: name, ": ", value and CRLF for each. */
    static final int MAX_HEADER_BYTES = 32 * 1024;
    /** Header lines; a header repeated on several lines counts once per line. */
    static final int MAX_HEADER_LINES = 100;
    /** Characters of the request target (path and query) as sent. */
    static final int MAX_TARGET_LENGTH = 16 * 1024;
    /** Characters of the method; the longest registered HTTP method has 17. */
    static final int MAX_METHOD_LENGTH = 20;

    private RequestLimits() {
    }

    /**
     * Checks the request's method, target and headers.
     *
     * @throws ProxyException 400 {@code InvalidMethod} for a method that is no HTTP token; 414 {@code UriTooLong} for
     *     a longer target; 431 {@code RequestHeaderFieldsTooLarge} for more header bytes or lines
     */
    static void check(HttpExchange http) {
        // The JDK's server takes any text up to the first space as the method, control characters included.
        if (!isToken(http.getRequestMethod())) {
            throw ProxyException.of(400, "InvalidMethod", "The request method must be an HTTP method such as GET or"
                    + " POST: 1 to " + MAX_METHOD_LENGTH + " letters, digits or !#$%&'*+-.^_`|~.");
        }
        int target = http.getRequestURI().toString().length();
        if (target > MAX_TARGET_LENGTH) {
            throw ProxyException.of(414, "UriTooLong", "The request's path and query take " + target
                    + " characters; the proxy accepts at most " + MAX_TARGET_LENGTH + ". Send a shorter URL.");
        }
        long bytes = 0;
        int lines = 0;
        for (Map.Entry<String, List<String>> header : http.getRequestHeaders().entrySet()) {
            for (String value : header.getValue()) {
                bytes += header.getKey().length() + value.length() + 4;
                lines++;
            }
        }
        if (bytes > MAX_HEADER_BYTES || lines > MAX_HEADER_LINES) {
            throw ProxyException.of(431, "RequestHeaderFieldsTooLarge", "The request's headers take " + bytes
                    + " bytes in " + lines + " lines; the proxy accepts at most " + MAX_HEADER_BYTES + " bytes ("
                    + (MAX_HEADER_BYTES >> 10) + " KiB) in " + MAX_HEADER_LINES
                    + " lines. Send fewer or shorter headers.");
        }
    }

    /** Whether the method is an HTTP token (RFC 9110's tchar) of a sensible length. */
    private static boolean isToken(String method) {
        if (method.isEmpty() || method.length() > MAX_METHOD_LENGTH) {
            return false;
        }
        for (int i = 0; i < method.length(); i++) {
            char c = method.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
