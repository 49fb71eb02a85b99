package io.powerproxy.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.powerproxy.json.Json;
import java.io.IOException;

/** The request body a target gets: the client's bytes, or a copy of its JSON with {@code model} or usage changed. */
public final class UpstreamBody {

    private UpstreamBody() {
    }

    /**
     * The body to send.
     *
     * @param body the client's body
     * @param json the client's body as a JSON object, or null
     * @param model the deployment name the body's {@code model} must have, or null to keep it as it is
     * @param askForUsage whether to set {@code stream_options.include_usage: true}
     */
    public static byte[] of(byte[] body, JsonNode json, String model, boolean askForUsage) throws IOException {
        boolean renameModel = model != null && json != null && !model.equals(textField(json, "model"));
        if (!renameModel && !askForUsage) {
            return body;
        }
        ObjectNode rewritten = ((ObjectNode) json).deepCopy();
        if (renameModel) {
            rewritten.put("model", model);
        }
        if (askForUsage) {
            JsonNode options = rewritten.get("stream_options");
            (options instanceof ObjectNode object ? object : rewritten.putObject("stream_options"))
                    .put("include_usage", true);
        }
        return Json.MAPPER.writeValueAsBytes(rewritten);
    }

    private static String textField(JsonNode json, String field) {
        JsonNode value = json.get(field);
        return value != null && value.isTextual() ? value.textValue() : null;
    }
}
