package io.powerproxy.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.pipeline.ProxyException;
import java.net.URI;
import org.junit.jupiter.api.Test;

/** The request path read for its deployment (percent-decoded) and rewritten for a stand-in (re-encoded). */
class RequestPathTest {

    private static RequestPath parse(String pathAndQuery) {
        return RequestPath.parse(URI.create(pathAndQuery));
    }

    @Test
    void theDeploymentIsReadFromThePathPercentDecoded() {
        RequestPath path = parse("/openai/deployments/gpt%2D4o%5Fmini/chat/completions?api-version=2024-10-21");

        assertEquals("gpt-4o_mini", path.deployment());
        assertEquals("/openai/deployments/gpt%2D4o%5Fmini/chat/completions", path.rawPath());
        assertEquals("api-version=2024-10-21", path.rawQuery());
        assertFalse(path.v1());
    }

    @Test
    void aPlusInTheDeploymentStaysAPlusAndIsNotANameAzureAllows() {
        // Not decoded to a space (a path is not a form), and then refused: Azure's names have no '+'.
        ProxyException refused = assertThrows(ProxyException.class,
                () -> parse("/openai/deployments/a+b/chat/completions"));
        assertEquals("InvalidDeploymentName", refused.code());
        assertTrue(refused.getMessage().contains("'a+b'"), refused.getMessage());
    }

    @Test
    void aPathWithoutDeploymentsHasNoDeploymentAndV1CallsAreRecognised() {
        assertNull(parse("/openai/models").deployment());
        assertNull(parse("/openai/deployments/").deployment());
        RequestPath v1 = parse("/openai/v1/chat/completions");
        assertTrue(v1.v1());
        assertNull(v1.deployment());
    }

    @Test
    void aStandInNameIsPercentEncodedIntoTheDeploymentSegmentAndTheRestIsKeptByteForByte() {
        RequestPath path = parse("/openai/deployments/gpt-4o/chat/completions%3Fx?api-version=1");

        assertEquals("/openai/deployments/gpt%204o%2Fptu%2Bb%C3%A9/chat/completions%3Fx", path.withDeployment("gpt 4o/ptu+bé"));
        assertEquals("/openai/deployments/other", parse("/openai/deployments/gpt-4o").withDeployment("other"));
    }

    @Test
    void theSameNameKeepsTheClientsOwnEncoding() {
        RequestPath path = parse("/openai/deployments/gpt%2D4o/chat/completions");

        assertEquals("/openai/deployments/gpt%2D4o/chat/completions", path.withDeployment("gpt-4o"));
    }
}
