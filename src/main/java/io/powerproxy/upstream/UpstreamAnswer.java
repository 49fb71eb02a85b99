package io.powerproxy.upstream;

import java.io.InputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * An upstream's (or the mock's) answer, before it is copied to the client.
 *
 * @param status the answer's status
 * @param headers its headers, names in lower case
 * @param body its body, to be read and closed by the caller
 * @param readTimeout how long a read of the body may wait
 * @param permit the endpoint's connection permit, to be closed when the answer has been passed on; null for the mock
 */
public record UpstreamAnswer(int status, Map<String, List<String>> headers, InputStream body, Duration readTimeout,
        Balancer.Permit permit) {
}
