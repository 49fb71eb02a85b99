package io.powerproxy.usage;

import com.fasterxml.jackson.databind.JsonNode;
import com.knuddels.jtokkit.api.Encoding;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Counts the tokens of one streamed answer, event by event: the upstream's usage chunk when it sends one,
 * else an estimate of the streamed text.
 *
 * <p>One instance per request, fed by the one thread that copies the stream; it is not thread-safe and needs
 * not be. {@link #onData} takes each event's data in order and never throws: events without data,
 * {@code [DONE]}, data that is not a JSON object, {@code usage: null}, chunks with empty {@code choices}
 * (Azure's prompt filter results and content-filter offsets) and unknown fields are all tolerated and count
 * no text. Chat chunks contribute their {@code delta}'s content, refusal, tool-call names and arguments and
 * legacy function-call name and arguments; completions chunks their {@code text}; Responses API events their
 * text, refusal and function-argument deltas.
 *
 * <p>Each such field of each choice (and each tool call) is collected on its own, so that interleaved
 * choices and the tool calls that follow a text do not run into each other, and the estimate is the sum of
 * the tokens of each field's whole text. To keep memory small, a field's text is counted and dropped once
 * it reaches {@value #FLUSH_AT} characters, up to the last point where a word (letters or digits) ends and a
 * space or punctuation other than an apostrophe follows. The tokenizers never merge across such a point
 * (their pre-tokenising patterns start a new piece there), so counting in parts gives exactly the count of
 * the whole. Only text without such a point for {@value #HARD_LIMIT} characters (long digit runs, for
 * example) is cut anywhere, which may miscount a token or two at the cut.
 *
 * <p>The encoding is that of the model the stream reports, else o200k_base; once a part has been counted,
 * the rest of the stream is counted with the same encoding.
 */
final class StreamUsage {

    /** What an event was, for the caller deciding whether to forward it. */
    enum Event {
        /** A JSON chunk, counted; it may have carried usage along with its choices. */
        CHUNK,
        /**
         * A chunk with no (or empty) {@code choices} and a usage object: the chunk that
         * {@code stream_options.include_usage} adds at the end of a stream, which a client that did not ask for
         * it must not see.
         */
        USAGE_ONLY,
        /** No data, {@code [DONE]}, or data that is not a JSON object: nothing counted. */
        IGNORED
    }

    /** A field's text is counted in parts once it is this long. */
    static final int FLUSH_AT = 16 * 1024;
    /** A field's text without a safe cutting point is cut anywhere once it is this long. */
    static final int HARD_LIMIT = 64 * 1024;

    private final Map<Field, Pending> pending = new LinkedHashMap<>();
    private String model;
    private Counts reported;
    private Encoding countedWith;
    private long countedTokens;

    /** Creates an accumulator for one streamed answer. */
    StreamUsage() {
    }

    /**
     * Takes the data of the next event of the stream.
     *
     * @param data the event's data, or null for an event without data
     * @return what the event was; {@link Event#USAGE_ONLY} for the usage chunk
     */
    Event onData(String data) {
        StreamChunk chunk = StreamChunk.parse(data);
        if (chunk == null) {
            return Event.IGNORED;
        }
        if (chunk.type() != null && chunk.type().startsWith("response.")) {
            JsonNode event = StreamChunk.tree(data);
            if (event != null) {
                rememberModel(event.get("model"));
                onResponsesEvent(chunk.type(), event);
            }
            return Event.CHUNK;
        }
        rememberModel(chunk.model());
        for (StreamChunk.Text text : chunk.texts()) {
            append(new Field(text.choice(), text.field(), text.part()), text.text());
        }
        Counts usage = Counts.reported(chunk.usage(), null);
        if (usage != null) {
            reported = usage;
        }
        return usage != null && !chunk.hasChoices() ? Event.USAGE_ONLY : Event.CHUNK;
    }

    /**
     * Returns the counts of the stream so far: the reported usage when a usage chunk came, else the estimate.
     * Can be called more than once, for example when the stream broke off; it changes nothing.
     *
     * @param request the request's JSON for the prompt estimate, or null
     * @param modelHint the model to report, and to pick the encoding, when the stream named none; may be null
     * @return the counts, with the model the stream reported, else {@code modelHint}
     */
    Counts finish(JsonNode request, String modelHint) {
        String resolvedModel = model != null ? model : modelHint;
        if (reported != null) {
            return new Counts(reported.promptTokens(), reported.completionTokens(), reported.totalTokens(),
                    reported.source(), resolvedModel);
        }
        Encoding encoding = countedWith != null ? countedWith : TokenEncodings.forModel(resolvedModel);
        long completion = countedTokens;
        for (Pending part : pending.values()) {
            completion += TokenEncodings.count(encoding, part.text.toString());
        }
        return Counts.estimated(TokenEstimator.promptTokens(request, resolvedModel), completion, resolvedModel);
    }

    /** Returns the number of characters held for counting, for tests of the memory bound. */
    int bufferedChars() {
        int chars = 0;
        for (Pending part : pending.values()) {
            chars += part.text.length();
        }
        return chars;
    }

    private void onResponsesEvent(String type, JsonNode event) {
        int output = event.path("output_index").asInt(0);
        int content = event.path("content_index").asInt(0);
        switch (type) {
            case "response.output_text.delta" -> append(new Field(output, "output_text", content), event.get("delta"));
            case "response.refusal.delta" -> append(new Field(output, "refusal", content), event.get("delta"));
            case "response.function_call_arguments.delta" ->
                    append(new Field(output, "function_arguments", -1), event.get("delta"));
            default -> {
                JsonNode response = event.get("response");
                if (response != null && response.isObject()) {
                    rememberModel(response.get("model"));
                    Counts usage = Counts.reported(response.get("usage"), null);
                    if (usage != null) {
                        reported = usage;
                    }
                }
            }
        }
    }

    private void append(Field field, JsonNode value) {
        append(field, text(value));
    }

    private void append(Field field, String text) {
        if (text == null || text.isEmpty()) {
            return;
        }
        Pending part = pending.computeIfAbsent(field, f -> new Pending());
        part.text.append(text);
        if (part.text.length() >= FLUSH_AT) {
            countLeadingPart(part);
        }
    }

    private void countLeadingPart(Pending part) {
        StringBuilder text = part.text;
        int cut = lastSafeCut(text, Math.max(part.scanned, 1));
        part.scanned = text.length();
        if (cut < 0) {
            if (text.length() < HARD_LIMIT) {
                return;
            }
            cut = Character.isHighSurrogate(text.charAt(text.length() - 1)) ? text.length() - 1 : text.length();
        }
        if (countedWith == null) {
            countedWith = TokenEncodings.forModel(model);
        }
        countedTokens += TokenEncodings.count(countedWith, text.substring(0, cut));
        text.delete(0, cut);
        part.scanned = text.length();
    }

    // The last index i >= from at which a word ends before i and a character follows that cannot continue it.
    private static int lastSafeCut(CharSequence text, int from) {
        for (int i = text.length() - 1; i >= from; i--) {
            if (Character.isLetterOrDigit(text.charAt(i - 1)) && cannotContinueWord(text.charAt(i))) {
                return i;
            }
        }
        return -1;
    }

    // Letters, numbers (\p{N}, not only digits) and combining marks extend a word; an apostrophe may start a
    // contraction ("don't"); a surrogate may be half of a letter.
    private static boolean cannotContinueWord(char c) {
        if (c == '\'' || Character.isLetterOrDigit(c) || Character.isSurrogate(c)) {
            return false;
        }
        return switch (Character.getType(c)) {
            case Character.LETTER_NUMBER, Character.OTHER_NUMBER, Character.NON_SPACING_MARK,
                    Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK -> false;
            default -> true;
        };
    }

    private void rememberModel(JsonNode value) {
        rememberModel(text(value));
    }

    private void rememberModel(String name) {
        if (model == null && name != null && !name.isBlank()) {
            model = name;
        }
    }

    private static String text(JsonNode node) {
        return node != null && node.isTextual() ? node.textValue() : null;
    }

    /** One text field of one choice (and tool call) of the answer. */
    private record Field(int choice, String name, int part) {
    }

    /** The not yet counted text of a field, and how much of it is known to hold no safe cut. */
    private static final class Pending {
        final StringBuilder text = new StringBuilder();
        int scanned;
    }
}
