package io.powerproxy.usage;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.powerproxy.json.Json;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * What token counting needs of one streamed chat or completions chunk, read in one pass with Jackson's streaming
 * parser: no tree is built for the dozens of chunks a stream has, only for the rare usage object.
 *
 * @param model the chunk's {@code model}, or null
 * @param type the chunk's {@code type} (Responses API events have one), or null
 * @param hasChoices whether {@code choices} is a non-empty array
 * @param usage the chunk's {@code usage} object, or null (also for {@code usage: null})
 * @param texts the text fields of the choices, in the order they came
 */
record StreamChunk(String model, String type, boolean hasChoices, JsonNode usage, List<Text> texts) {

    /** One text field of one choice (and tool call), e.g. choice 0's {@code delta.content}. */
    record Text(int choice, String field, int part, String text) {
    }

    private static final ObjectMapper JSON = Json.MAPPER;
    private static final JsonFactory FACTORY = Json.FACTORY;

    /** Reads a chunk; null when the data is not a JSON object (such an event counts nothing). */
    static StreamChunk parse(String data) {
        if (data == null || !startsLikeAnObject(data)) {
            return null;
        }
        try (JsonParser parser = FACTORY.createParser(data)) {
            return readObject(parser);
        } catch (IOException | RuntimeException notJson) {
            return null;
        }
    }

    /** The whole chunk as a tree, for the Responses API's events, whose fields vary by type. */
    static JsonNode tree(String data) {
        try {
            JsonNode node = JSON.readTree(data);
            return node != null && node.isObject() ? node : null;
        } catch (IOException | RuntimeException notJson) {
            return null;
        }
    }

    private static boolean startsLikeAnObject(String data) {
        for (int i = 0; i < data.length(); i++) {
            char c = data.charAt(i);
            if (!Character.isWhitespace(c)) {
                return c == '{';
            }
        }
        return false;
    }

    private static StreamChunk readObject(JsonParser parser) throws IOException {
        if (parser.nextToken() != JsonToken.START_OBJECT) {
            return null;
        }
        String model = null;
        String type = null;
        boolean hasChoices = false;
        JsonNode usage = null;
        List<Text> texts = new ArrayList<>(2);
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken value = parser.nextToken();
            switch (name) {
                case "model" -> model = string(parser, value);
                case "type" -> type = string(parser, value);
                case "choices" -> hasChoices = readChoices(parser, value, texts);
                case "usage" -> usage = value == JsonToken.START_OBJECT ? JSON.readTree(parser) : skip(parser);
                default -> parser.skipChildren();
            }
        }
        return new StreamChunk(model, type, hasChoices, usage, texts);
    }

    /** Reads {@code choices}; returns whether it is a non-empty array. */
    private static boolean readChoices(JsonParser parser, JsonToken value, List<Text> texts) throws IOException {
        if (value != JsonToken.START_ARRAY) {
            parser.skipChildren();
            return false;
        }
        int position = 0;
        while (parser.nextToken() != JsonToken.END_ARRAY) {
            if (parser.currentToken() == JsonToken.START_OBJECT) {
                readChoice(parser, position, texts);
            } else {
                parser.skipChildren();
            }
            position++;
        }
        return position > 0;
    }

    // Azure sends "index" after "delta" (its fields are sorted), so the choice's texts get their index at the end.
    private static void readChoice(JsonParser parser, int position, List<Text> texts) throws IOException {
        int index = position;
        List<Text> found = new ArrayList<>(2);
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken value = parser.nextToken();
            switch (name) {
                case "index" -> index = integer(parser, value, position);
                case "delta" -> readDelta(parser, value, found);
                case "text" -> add(found, "text", -1, string(parser, value));
                default -> parser.skipChildren();
            }
        }
        for (Text text : found) {
            texts.add(new Text(index, text.field(), text.part(), text.text()));
        }
    }

    private static void readDelta(JsonParser parser, JsonToken value, List<Text> found) throws IOException {
        if (value != JsonToken.START_OBJECT) {
            parser.skipChildren();
            return;
        }
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken field = parser.nextToken();
            switch (name) {
                case "content" -> add(found, "content", -1, string(parser, field));
                case "refusal" -> add(found, "refusal", -1, string(parser, field));
                case "tool_calls" -> readToolCalls(parser, field, found);
                case "function_call" -> readFunction(parser, field, found, "function_name", "function_arguments", -1);
                default -> parser.skipChildren();
            }
        }
    }

    private static void readToolCalls(JsonParser parser, JsonToken value, List<Text> found) throws IOException {
        if (value != JsonToken.START_ARRAY) {
            parser.skipChildren();
            return;
        }
        int position = 0;
        while (parser.nextToken() != JsonToken.END_ARRAY) {
            if (parser.currentToken() != JsonToken.START_OBJECT) {
                parser.skipChildren();
                position++;
                continue;
            }
            int tool = position;
            List<Text> call = new ArrayList<>(2);
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String name = parser.currentName();
                JsonToken field = parser.nextToken();
                switch (name) {
                    case "index" -> tool = integer(parser, field, position);
                    case "function" -> readFunction(parser, field, call, "tool_name", "tool_arguments", 0);
                    default -> parser.skipChildren();
                }
            }
            for (Text text : call) {
                found.add(new Text(0, text.field(), tool, text.text()));
            }
            position++;
        }
    }

    private static void readFunction(JsonParser parser, JsonToken value, List<Text> found, String nameField,
            String argumentsField, int part) throws IOException {
        if (value != JsonToken.START_OBJECT) {
            parser.skipChildren();
            return;
        }
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
            String name = parser.currentName();
            JsonToken field = parser.nextToken();
            switch (name) {
                case "name" -> add(found, nameField, part, string(parser, field));
                case "arguments" -> add(found, argumentsField, part, string(parser, field));
                default -> parser.skipChildren();
            }
        }
    }

    private static void add(List<Text> found, String field, int part, String text) {
        if (text != null && !text.isEmpty()) {
            found.add(new Text(0, field, part, text));
        }
    }

    private static String string(JsonParser parser, JsonToken value) throws IOException {
        if (value == JsonToken.VALUE_STRING) {
            return parser.getText();
        }
        parser.skipChildren();
        return null;
    }

    private static int integer(JsonParser parser, JsonToken value, int otherwise) throws IOException {
        if (value == JsonToken.VALUE_NUMBER_INT && parser.getNumberType() == JsonParser.NumberType.INT) {
            return parser.getIntValue();
        }
        parser.skipChildren();
        return otherwise;
    }

    private static JsonNode skip(JsonParser parser) throws IOException {
        parser.skipChildren();
        return null;
    }
}
