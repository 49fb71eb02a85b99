package io.powerproxy.affinity;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Set;

/**
 * What a request does with objects that live in one Azure resource: which object it follows up on (the id in its
 * path, else an id its JSON body refers to), and whether its answer creates one whose owner is to be remembered.
 *
 * @param objectId the object the request is routed by, or null when it refers to none
 * @param idInPath whether that id is the path's ({@code /openai/files/{id}}), which makes a 404 mean "not here"
 * @param deletes whether the request deletes that object ({@code DELETE /openai/files/{id}})
 * @param answerKey the top-level field of the answer that holds the id of the object it creates ({@code id}, or
 *     {@code thread_id} for a run on a new thread), or null when the request creates none
 */
public record ObjectCall(String objectId, boolean idInPath, boolean deletes, String answerKey) {

    /** The longest object id remembered; Azure's are about 30 characters, responses' about 50. */
    static final int MAX_ID_LENGTH = 128;

    /** The collections whose objects live in one resource, as their path segment after {@code /openai/}. */
    private static final Set<String> COLLECTIONS = Set.of("files", "assistants", "threads", "vector_stores", "batches",
            "responses", "conversations");

    /**
     * Top-level body fields that refer to an object, in the order they are looked at: a Responses call's previous
     * response or conversation, a new run's assistant, a batch's input file, a vector store's files.
     */
    private static final List<String> BODY_REFERENCES = List.of("previous_response_id", "conversation",
            "assistant_id", "input_file_id", "file_id", "file_ids", "vector_store_ids");

    /**
     * Reads a request; null when it concerns no object (chat, embeddings, listing a collection...), which is then
     * routed exactly as without object affinity.
     *
     * @param rawPath the request's percent-encoded path
     * @param json the request body as a JSON object, or null
     */
    static ObjectCall of(String method, String rawPath, JsonNode json) {
        int start;
        if (rawPath.startsWith("/openai/v1/")) {
            start = "/openai/v1/".length();
        } else if (rawPath.startsWith("/openai/") && !rawPath.startsWith("/openai/deployments/")) {
            start = "/openai/".length();
        } else {
            return null;
        }
        int slash = rawPath.indexOf('/', start);
        String collection = rawPath.substring(start, slash < 0 ? rawPath.length() : slash);
        if (!COLLECTIONS.contains(collection)) {
            return null;
        }
        String second = slash < 0 ? "" : segment(rawPath, slash + 1);
        boolean post = "POST".equals(method);
        if (second.isEmpty()) {
            if (!post) {
                return null;
            }
            // A response created with "store": false is kept nowhere, so there is nothing to remember.
            boolean stored = json == null || !json.path("store").isBoolean() || json.path("store").booleanValue();
            String reference = bodyReference(json);
            return reference == null && !stored ? null : new ObjectCall(reference, false, false, stored ? "id" : null);
        }
        if (post && (collection.equals("threads") && second.equals("runs")
                || collection.equals("files") && second.equals("import"))) {
            // A run on a new thread belongs to that thread; an imported file is a file.
            return new ObjectCall(bodyReference(json), false, false,
                    collection.equals("threads") ? "thread_id" : "id");
        }
        if (!validId(second)) {
            // Routed as a call without an object: a name that cannot be an id is neither remembered nor looked up.
            return null;
        }
        boolean whole = rawPath.indexOf('/', slash + 1) < 0;
        return new ObjectCall(second, true, whole && "DELETE".equals(method), null);
    }

    /** Whether this call must be routed by an object's owner. */
    boolean followsUp() {
        return objectId != null;
    }

    private static String segment(String path, int from) {
        int end = path.indexOf('/', from);
        return path.substring(from, end < 0 ? path.length() : end);
    }

    /** The first id the body refers to, or null. */
    private static String bodyReference(JsonNode json) {
        if (json == null) {
            return null;
        }
        for (String field : BODY_REFERENCES) {
            JsonNode value = json.get(field);
            if (value == null) {
                continue;
            }
            if (value.isArray() && !value.isEmpty()) {
                value = value.get(0);
            } else if (value.isObject()) {
                // "conversation": {"id": "conv_..."}
                value = value.get("id");
            }
            if (value != null && value.isTextual() && validId(value.textValue())) {
                return value.textValue();
            }
        }
        return null;
    }

    /**
     * Whether a text can be an object id: 1 to {@value #MAX_ID_LENGTH} letters, digits, {@code -}, {@code _} or
     * {@code .}. Anything else (control characters, a 10 KB string) is never stored, looked up or logged.
     */
    static boolean validId(String id) {
        if (id == null || id.isEmpty() || id.length() > MAX_ID_LENGTH || id.charAt(0) == '.') {
            return false;
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.';
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
