package io.powerproxy.usage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class TokenDemandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static TokenDemand of(String body) throws Exception {
        return TokenDemand.of(JSON.readTree(body), "gpt-4o");
    }

    @Test
    void thePromptIsEstimatedAsTheUsageEstimateCountsIt() throws Exception {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello there, how are you?\"}]}";
        assertEquals(TokenEstimator.promptTokens(JSON.readTree(body), "gpt-4o"), of(body).promptTokens());
        assertEquals(3 + 1 + 7 + 3, of(body).promptTokens());
    }

    @Test
    void maxCompletionTokensWinsOverMaxTokens() throws Exception {
        assertEquals(50, of("{\"max_tokens\":100,\"max_completion_tokens\":50}").completionBound());
        assertEquals(100, of("{\"max_tokens\":100}").completionBound());
        assertEquals(70, of("{\"input\":\"hi\",\"max_output_tokens\":70}").completionBound());
    }

    @Test
    void aMissingOrNonNumericBoundCountsAsNoBound() throws Exception {
        assertFalse(of("{\"messages\":[]}").hasCompletionBound());
        assertFalse(of("{\"max_tokens\":\"100\"}").hasCompletionBound());
        assertFalse(of("{\"max_tokens\":-5}").hasCompletionBound());
        assertFalse(of("{\"max_tokens\":1.5}").hasCompletionBound());
    }

    @Test
    void theTotalAddsTheDefaultOnlyWhenTheClientSetNoBound() throws Exception {
        assertEquals(3 + 1 + 1 + 3 + 20, of("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":20}")
                .total(1000));
        assertEquals(3 + 1 + 1 + 3 + 1000, of("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}").total(1000));
    }

    @Test
    void aBodyThatIsNotAJsonObjectDemandsNothing() throws Exception {
        assertEquals(TokenDemand.NONE, TokenDemand.of(null, "gpt-4o"));
        assertEquals(TokenDemand.NONE, TokenDemand.of(JSON.readTree("[1,2]"), "gpt-4o"));
    }
}
