package io.powerproxy.testing;

import static java.nio.charset.StandardCharsets.US_ASCII;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Reads HTTP/1.1 answers off a raw socket, for tests that must send what java.net.http would not (control
 * characters, slow or oversized bodies, many idle connections) and so cannot use its client to read the answer.
 */
public final class RawHttp {

    private RawHttp() {
    }

    /** The status line and headers, including the blank line; null when the connection ended before any byte. */
    public static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b;
            try {
                b = in.read();
            } catch (IOException reset) {
                b = -1;
            }
            if (b < 0) {
                if (head.size() == 0) {
                    return null;
                }
                throw new IOException("the connection ended inside the response headers: " + head);
            }
            head.write(b);
            matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(US_ASCII);
    }

    /** The value of the answer's Content-Length, or -1 when it has none. */
    public static int contentLength(String head) {
        for (String line : head.split("\r\n")) {
            if (line.regionMatches(true, 0, "content-length:", 0, 15)) {
                return Integer.parseInt(line.substring(15).trim());
            }
        }
        return -1;
    }

    /**
     * One answer with its Content-Length body, as text, without waiting for the connection to close; empty when the
     * connection ended before any byte.
     */
    public static String readAnswer(InputStream in) throws IOException {
        String head = readHead(in);
        if (head == null) {
            return "";
        }
        int length = contentLength(head);
        byte[] body = length > 0 ? in.readNBytes(length) : new byte[0];
        return head + new String(body, StandardCharsets.UTF_8);
    }
}
