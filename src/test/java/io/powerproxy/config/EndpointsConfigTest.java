package io.powerproxy.config;

import static io.powerproxy.config.ConfigTestSupport.load;
import static io.powerproxy.config.ConfigTestSupport.problems;
import static io.powerproxy.config.ConfigTestSupport.withAoai;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class EndpointsConfigTest {

    @Test
    void anEndpointGetsTheDefaultsOfTheOriginal() {
        EndpointConfig endpoint = load(withAoai(ConfigTestSupport.ONE_ENDPOINT)).aoai().endpoints().getFirst();

        assertEquals("East", endpoint.name());
        assertNull(endpoint.key());
        assertEquals(1.0, endpoint.nonStreamingFraction());
        assertEquals(0, endpoint.priority());
        assertEquals(1.0, endpoint.weight());
        assertEquals(ConnectionLimits.DEFAULTS, endpoint.limits());
        assertEquals(new ConnectionLimits(100, 20, Duration.ofSeconds(5)), endpoint.limits());
        assertEquals(new Timeouts(Duration.ofSeconds(15), Duration.ofSeconds(120), Duration.ofSeconds(120),
                Duration.ofSeconds(120)), endpoint.timeouts());
        assertFalse(endpoint.http2());
        assertEquals(List.of(), endpoint.virtualDeployments());
        assertEquals("aoai.endpoints[0]", endpoint.path());
    }

    @Test
    void prioritiesDefaultToConfigOrderAndCanBeGivenWithWeights() {
        List<EndpointConfig> endpoints = load(withAoai("""
                aoai:
                  endpoints:
                    - name: A
                      url: https://a.openai.azure.com
                    - name: B
                      url: https://b.openai.azure.com
                      priority: -3
                      weight: 2.5
                    - name: C
                      url: https://c.openai.azure.com
                """)).aoai().endpoints();

        assertEquals(List.of(0, -3, 2), endpoints.stream().map(EndpointConfig::priority).toList());
        assertEquals(List.of(1.0, 2.5, 1.0), endpoints.stream().map(EndpointConfig::weight).toList());
    }

    @Test
    void theAoaiSectionIsRequired() {
        assertEquals(List.of("aoai is required: it lists the Azure OpenAI endpoints"), problems(ConfigTestSupport.ONE_CLIENT));
        assertEquals(List.of("aoai must be a mapping (key: value lines), got a list"), problems(withAoai("aoai: [a]\n")));
    }

    @Test
    void endpointsAreRequiredWithoutAMockResponse() {
        String message = "aoai.endpoints must list at least one Azure OpenAI endpoint (or set aoai.mock_response)";
        assertEquals(List.of(message), problems(withAoai("aoai:\n  forward_http_header_only_if_name_matches: x\n")));
        assertEquals(List.of(message), problems(withAoai("aoai:\n  endpoints: []\n")));
        assertEquals(List.of("aoai.endpoints must be a list (lines starting with '- '), got a string"),
                problems(withAoai("aoai:\n  endpoints: East\n")));
    }

    @Test
    void endpointsAreOptionalWithAMockResponse() {
        AoaiConfig aoai = load(withAoai("""
                aoai:
                  mock_response:
                    json: {"choices": []}
                """)).aoai();

        assertEquals(List.of(), aoai.endpoints());
        assertEquals("{\"choices\":[]}", aoai.mockResponse().json());
    }

    @ParameterizedTest
    @CsvSource({
        "https://x.openai.azure.com/, https://x.openai.azure.com",
        "https://x.openai.azure.com, https://x.openai.azure.com",
        "https://x.example.com/base/path//, https://x.example.com/base/path",
        "HTTP://localhost:8081/, http://localhost:8081",
        "http://[::1]:9000/aoai/, http://[::1]:9000/aoai",
    })
    void urlsAreStoredWithoutATrailingSlash(String written, String stored) {
        EndpointConfig endpoint = load(withAoai(endpointAt(written))).aoai().endpoints().getFirst();

        assertEquals(URI.create(stored), endpoint.url());
        assertFalse(endpoint.url().getPath().endsWith("/"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "foo | aoai.endpoints[0].url must be an absolute http(s) URL, got 'foo'",
        "/openai | aoai.endpoints[0].url must be an absolute http(s) URL, got '/openai'",
        "ftp://x.example.com | aoai.endpoints[0].url must be an absolute http(s) URL, got 'ftp://x.example.com'",
        "mailto:someone | aoai.endpoints[0].url must be an absolute http(s) URL, got 'mailto:someone'",
        "https://my_resource.openai.azure.com"
                + " | aoai.endpoints[0].url must be an absolute http(s) URL with a valid host name,"
                + " got 'https://my_resource.openai.azure.com'",
        "https://user:hunter2secret@x.example.com"
                + " | aoai.endpoints[0].url must be an absolute http(s) URL without user info (user:password@)",
        "https://x.example.com/?api-key=hunter2secret"
                + " | aoai.endpoints[0].url must be an absolute http(s) URL without a query or fragment"
                + " (request paths and queries are appended to it)",
        "https://x.example.com/#frag"
                + " | aoai.endpoints[0].url must be an absolute http(s) URL without a query or fragment"
                + " (request paths and queries are appended to it)",
        "https://x y@ example.com | aoai.endpoints[0].url must be an absolute http(s) URL, got a URL that is not shown",
    })
    void urlsMustBeAbsoluteHttpUrlsAndNeverEchoACredential(String url, String problem) {
        assertEquals(List.of(problem), problems(withAoai(endpointAt(url))));
    }

    @Test
    void anEndpointNeedsANameAndAUrl() {
        assertEquals(List.of("aoai.endpoints[0].name is required", "aoai.endpoints[0].url is required"),
                problems(withAoai("aoai:\n  endpoints:\n    - key: endpoint-key-0123456789\n")));
    }

    @Test
    void endpointNamesMustBeUnique() {
        assertEquals(List.of("aoai.endpoints[1].name 'East' is the same as aoai.endpoints[0].name:"
                + " endpoint names must be unique"), problems(withAoai("""
                        aoai:
                          endpoints:
                            - name: East
                              url: https://east.openai.azure.com
                            - name: East
                              url: https://east2.openai.azure.com
                        """)));
    }

    @Test
    void anEndpointKeyIsTextEvenWhenWrittenAsANumberAndMustNotBeBlank() {
        assertEquals("00123", load(withAoai(endpoint("key: 00123"))).aoai().endpoints().getFirst().key());
        assertEquals(List.of("aoai.endpoints[0].key must not be blank (leave it out to authenticate with Entra ID)"),
                problems(withAoai(endpoint("key: ''"))));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "non_streaming_fraction: 1.5 | aoai.endpoints[0].non_streaming_fraction must be a number between 0 and 1, got '1.5'",
        "non_streaming_fraction: '1' | aoai.endpoints[0].non_streaming_fraction must be a number between 0 and 1, got '1'",
        "weight: abc | aoai.endpoints[0].weight must be a positive number, got 'abc'",
        "weight: 0 | aoai.endpoints[0].weight must be a positive number, got '0'",
        "weight: .inf | aoai.endpoints[0].weight must be a positive number, got '.inf'",
        "priority: 1.5 | aoai.endpoints[0].priority must be a whole number, got '1.5'",
        "priority: 99999999999 | aoai.endpoints[0].priority must be a whole number, got '99999999999'",
        "priority: [1] | aoai.endpoints[0].priority must be a whole number, got a list",
    })
    void endpointNumbersAreCheckedWithWhatWasFound(String line, String problem) {
        assertEquals(List.of(problem), problems(withAoai(endpoint(line))));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "limits: {max_connections: 0} | aoai.endpoints[0].connections.limits.max_connections must be a whole number"
                + " of at least 1, got '0'",
        "limits: {max_keepalive_connections: -1} | aoai.endpoints[0].connections.limits.max_keepalive_connections"
                + " must be a whole number of at least 0, got '-1'",
        "limits: {keepalive_expiry: -1} | aoai.endpoints[0].connections.limits.keepalive_expiry must be a number"
                + " of seconds of at least 0, got '-1'",
        "timeouts: {connect: 0} | aoai.endpoints[0].connections.timeouts.connect must be a positive number"
                + " of seconds, got '0'",
        "timeouts: {read: slow} | aoai.endpoints[0].connections.timeouts.read must be a positive number"
                + " of seconds, got 'slow'",
        "timeouts: {write: -5} | aoai.endpoints[0].connections.timeouts.write must be a positive number"
                + " of seconds, got '-5'",
        "timeouts: {pool: true} | aoai.endpoints[0].connections.timeouts.pool must be a positive number"
                + " of seconds, got 'true'",
        "limits: 100 | aoai.endpoints[0].connections.limits must be a mapping (key: value lines), got a number",
        "http2: h2 | aoai.endpoints[0].connections.http2 must be true or false, got 'h2'",
        "http2: 1 | aoai.endpoints[0].connections.http2 must be true or false, got '1'",
    })
    void connectionLimitsAndTimeoutsAreChecked(String connections, String problem) {
        assertEquals(List.of(problem), problems(withAoai(endpoint("connections: {" + connections + "}"))));
    }

    @Test
    void connectionSettingsTakeFractionsOfSecondsAndKeepDefaultsForTheRest() {
        EndpointConfig endpoint = load(withAoai(endpoint("""
                connections:
                        limits:
                          max_connections: 7
                          keepalive_expiry: 2.5
                        timeouts:
                          read: 0.25
                          pool: 0.0001
                """))).aoai().endpoints().getFirst();

        assertEquals(new ConnectionLimits(7, 20, Duration.ofMillis(2500)), endpoint.limits());
        assertEquals(new Timeouts(Duration.ofSeconds(15), Duration.ofMillis(250), Duration.ofSeconds(120),
                Duration.ofMillis(1)), endpoint.timeouts());
    }

    @ParameterizedTest
    @CsvSource({"'connections: {http2: true}', true", "'connections: {http2: false}', false",
        "'connections: {limits: {max_connections: 7}}', false"})
    void http2IsOfferedOnlyWhenAnEndpointAsksForIt(String connections, boolean http2) {
        EndpointConfig endpoint = load(withAoai(endpoint(connections))).aoai().endpoints().getFirst();

        assertEquals(http2, endpoint.http2());
    }

    @Test
    void theLastEndpointMustTakeAllNonStreamingRequests() {
        assertEquals(List.of("aoai.endpoints[1].non_streaming_fraction must be 1 for the last endpoint"
                + " (otherwise some non-streaming requests find no endpoint)"), problems(withAoai("""
                        aoai:
                          endpoints:
                            - name: A
                              url: https://a.openai.azure.com
                              non_streaming_fraction: 0
                            - name: B
                              url: https://b.openai.azure.com
                              non_streaming_fraction: 0.9
                        """)));
    }

    @Test
    void anEarlierEndpointMayTakeNoNonStreamingRequests() {
        List<EndpointConfig> endpoints = load(withAoai("""
                aoai:
                  endpoints:
                    - name: A
                      url: https://a.openai.azure.com
                      non_streaming_fraction: 0
                    - name: B
                      url: https://b.openai.azure.com
                """)).aoai().endpoints();

        assertEquals(List.of(0.0, 1.0), endpoints.stream().map(EndpointConfig::nonStreamingFraction).toList());
    }

    @Test
    void virtualDeploymentsHaveStandinsWithDefaults() {
        EndpointConfig endpoint = load(withAoai(endpoint("""
                virtual_deployments:
                        - name: gpt-4o
                          standins:
                            - name: gpt-4o-ptu
                              non_streaming_fraction: 0.2
                              weight: 3
                            - name: gpt-4o-paygo
                              priority: 0
                """))).aoai().endpoints().getFirst();

        VirtualDeploymentConfig virtualDeployment = endpoint.virtualDeployments().getFirst();
        assertEquals("gpt-4o", virtualDeployment.name());
        assertEquals("aoai.endpoints[0].virtual_deployments[0]", virtualDeployment.path());
        assertEquals(List.of(
                new StandinConfig("gpt-4o-ptu", 0.2, 0, 3, "aoai.endpoints[0].virtual_deployments[0].standins[0]"),
                new StandinConfig("gpt-4o-paygo", 1, 0, 1, "aoai.endpoints[0].virtual_deployments[0].standins[1]")),
                virtualDeployment.standins());
    }

    @Test
    void aStandinsPriorityDefaultsToItsPositionInItsVirtualDeployment() {
        EndpointConfig endpoint = load(withAoai(endpoint("""
                virtual_deployments:
                        - name: gpt-4o
                          standins: [{name: a}, {name: b}, {name: c}]
                """))).aoai().endpoints().getFirst();

        assertEquals(List.of(0, 1, 2),
                endpoint.virtualDeployments().getFirst().standins().stream().map(StandinConfig::priority).toList());
    }

    @Test
    void theLastStandinMustTakeAllNonStreamingRequests() {
        assertEquals(List.of("aoai.endpoints[0].virtual_deployments[0].standins[1].non_streaming_fraction must be 1"
                + " for the last stand-in (otherwise some non-streaming requests find no stand-in)"),
                problems(withAoai(endpoint("""
                        virtual_deployments:
                                - name: gpt-4o
                                  standins:
                                    - name: gpt-4o-ptu
                                    - name: gpt-4o-paygo
                                      non_streaming_fraction: 0.5
                        """))));
    }

    @Test
    void virtualDeploymentsNeedUniqueNamesAndStandins() {
        assertEquals(List.of(
                "aoai.endpoints[0].virtual_deployments[0].standins is required",
                "aoai.endpoints[0].virtual_deployments[1].name 'gpt-4o' is the same as"
                        + " aoai.endpoints[0].virtual_deployments[0].name:"
                        + " virtual deployment names must be unique within an endpoint",
                "aoai.endpoints[0].virtual_deployments[1].standins must list at least one stand-in deployment",
                "aoai.endpoints[0].virtual_deployments[2].name is required",
                "aoai.endpoints[0].virtual_deployments[2].standins[0].name is required",
                "aoai.endpoints[0].virtual_deployments[2].standins[2].name 'x' is the same as"
                        + " aoai.endpoints[0].virtual_deployments[2].standins[1].name:"
                        + " stand-in names must be unique within a virtual deployment"),
                problems(withAoai(endpoint("""
                        virtual_deployments:
                                - name: gpt-4o
                                - name: gpt-4o
                                  standins: []
                                - standins: [{weight: 1}, {name: x}, {name: x}]
                        """))));
    }

    @Test
    void twoEndpointsMayServeTheSameVirtualDeployment() {
        List<EndpointConfig> endpoints = load(withAoai("""
                aoai:
                  endpoints:
                    - name: A
                      url: https://a.openai.azure.com
                      virtual_deployments: [{name: gpt-4o, standins: [{name: gpt-4o}]}]
                    - name: B
                      url: https://b.openai.azure.com
                      virtual_deployments: [{name: gpt-4o, standins: [{name: gpt-4o}]}]
                """)).aoai().endpoints();

        assertEquals(2, endpoints.size());
    }

    @Test
    void theHeaderFilterIsARegularExpression() {
        AoaiConfig aoai = load(withAoai(ConfigTestSupport.ONE_ENDPOINT
                + "  forward_http_header_only_if_name_matches: (?!x-)\n")).aoai();

        assertTrue(aoai.forwardHeaderOnlyIfNameMatches().matcher("api-key").lookingAt());
        assertFalse(aoai.forwardHeaderOnlyIfNameMatches().matcher("x-forwarded-for").lookingAt());
        assertNull(load(withAoai(ConfigTestSupport.ONE_ENDPOINT)).aoai().forwardHeaderOnlyIfNameMatches());
    }

    @Test
    void theHeaderFilterAcceptsPythonsNamedGroups() {
        AoaiConfig aoai = load(withAoai(ConfigTestSupport.ONE_ENDPOINT
                + "  forward_http_header_only_if_name_matches: '(?P<p>[a-z])-(?P=p)'\n")).aoai();

        assertTrue(aoai.forwardHeaderOnlyIfNameMatches().matcher("a-a").matches());
        assertFalse(aoai.forwardHeaderOnlyIfNameMatches().matcher("a-b").matches());
    }

    @Test
    void anInvalidHeaderFilterIsReportedWithItsPath() {
        List<String> problems = problems(withAoai(ConfigTestSupport.ONE_ENDPOINT
                + "  forward_http_header_only_if_name_matches: '(?!x-'\n"));

        assertEquals(1, problems.size());
        assertTrue(problems.getFirst().startsWith(
                "aoai.forward_http_header_only_if_name_matches is not a valid regular expression: Unclosed group"),
                problems.getFirst());
    }

    @Test
    void theMockResponseOfTheOriginalsExampleLoadsAsCompactJson() {
        MockResponse mock = load(withAoai("""
                aoai:
                  mock_response:
                    ms_to_wait_before_return: 1000
                    json: {
                      "id": "chatcmpl-87lITNUXLFIBHyDu3jFTtgOibcAxz",
                      "object": "chat.completion",
                      "created": 1696860797,
                      "choices": [
                        {
                          "index": 0,
                          "message": {
                            "role": "assistant",
                            "content": "I'm a mock response."
                          }
                        }
                      ],
                      "usage": {"completion_tokens": 16, "prompt_tokens": 61, "total_tokens": 77}
                    }
                """)).aoai().mockResponse();

        assertEquals(Duration.ofSeconds(1), mock.waitBeforeReturn());
        assertEquals("{\"id\":\"chatcmpl-87lITNUXLFIBHyDu3jFTtgOibcAxz\",\"object\":\"chat.completion\","
                + "\"created\":1696860797,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                + "\"content\":\"I'm a mock response.\"}}],"
                + "\"usage\":{\"completion_tokens\":16,\"prompt_tokens\":61,\"total_tokens\":77}}", mock.json());
    }

    @Test
    void theMockResponseJsonMayBeAStringOfJsonAndWaitsNoTimeByDefault() {
        MockResponse mock = load(withAoai("""
                aoai:
                  mock_response:
                    json: '{ "a" : [1, 2.5, null] }'
                """)).aoai().mockResponse();

        assertEquals(Duration.ZERO, mock.waitBeforeReturn());
        assertEquals("{\"a\":[1,2.5,null]}", mock.json());
        assertNull(load(withAoai(ConfigTestSupport.ONE_ENDPOINT)).aoai().mockResponse());
    }

    @Test
    void theMockResponseNeedsValidJsonAndANonNegativeWait() {
        assertEquals(List.of("aoai.mock_response.json is required: the JSON document to answer every request with"),
                problems(withAoai("aoai:\n  mock_response:\n    ms_to_wait_before_return: 5\n")));
        assertEquals(List.of("aoai.mock_response.ms_to_wait_before_return must be a number of milliseconds"
                + " of at least 0, got '-1'"),
                problems(withAoai("aoai:\n  mock_response:\n    ms_to_wait_before_return: -1\n    json: {}\n")));
        assertEquals(List.of("aoai.mock_response.json must be a mapping, a list or a string of JSON, got '42'"),
                problems(withAoai("aoai:\n  mock_response:\n    json: 42\n")));
        List<String> invalid = problems(withAoai("aoai:\n  mock_response:\n    json: '{\"a\": }'\n"));
        assertEquals(1, invalid.size());
        assertTrue(invalid.getFirst().startsWith("aoai.mock_response.json is not valid JSON: "), invalid.getFirst());
        assertEquals(List.of("aoai.mock_response.json is not valid JSON: it is empty"),
                problems(withAoai("aoai:\n  mock_response:\n    json: ' '\n")));
    }

    private static String endpointAt(String url) {
        return "aoai:\n  endpoints:\n    - name: East\n      url: '" + url + "'\n";
    }

    /** {@code aoai:} with one endpoint named East and the given extra lines (indented as endpoint keys). */
    private static String endpoint(String extra) {
        return """
                aoai:
                  endpoints:
                    - name: East
                      url: https://east.openai.azure.com/
                      %s
                """.formatted(extra);
    }
}
