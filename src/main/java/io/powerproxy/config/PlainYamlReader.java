package io.powerproxy.config;

import static io.powerproxy.config.ConfigProblems.abbreviate;
import static io.powerproxy.config.ConfigProblems.child;
import static io.powerproxy.config.ConfigProblems.isSecretPath;

import java.io.StringReader;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Turns YAML text into plain maps, lists and scalars by walking SnakeYAML's node tree, reporting with its path what
 * plain values cannot show: duplicate keys, bad merges, aliases that contain themselves, unsupported tags and
 * placeholders.
 */
final class PlainYamlReader {

    private static final Pattern PLACEHOLDER = Pattern.compile(
            "_{3,}|<will be set by deployment script>|https?://_{3,}\\.[^/\\s]*/?");

    private final ConfigProblems problems;
    private final ScalarConstructor scalarConstructor = new ScalarConstructor();

    PlainYamlReader(ConfigProblems problems) {
        this.problems = problems;
    }

    /**
     * Whether a text is still a placeholder of the original's example instead of a value: the whole text is
     * {@code ___} (or more underscores), {@code <will be set by deployment script>}, or the example's endpoint URL
     * {@code https://___.openai.azure.com/}. Text that merely contains {@code ___} (a description, a key) is a value.
     */
    static boolean isPlaceholder(String text) {
        return PLACEHOLDER.matcher(text.strip()).matches();
    }

    /** The document as plain values, or null when it is not YAML or empty (a problem says which). */
    Object read(String yamlText) {
        Node root;
        try {
            root = new Yaml(new SafeConstructor(new LoaderOptions())).compose(new StringReader(yamlText));
        } catch (MarkedYAMLException e) {
            // Only problem, context and position: SnakeYAML's full message quotes the source line, which may hold a key.
            Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
            String where = mark == null ? "" : " at line " + (mark.getLine() + 1) + ", column " + (mark.getColumn() + 1);
            String context = e.getContext() == null ? "" : " (" + e.getContext() + ")";
            problems.add("the configuration is not valid YAML" + where + ": " + e.getProblem() + context);
            return null;
        } catch (YAMLException e) {
            problems.add("the configuration is not valid YAML: " + e.getMessage());
            return null;
        }
        if (root == null) {
            problems.add("the configuration is empty: it needs at least clients and aoai");
            return null;
        }
        return plain(root, "", Collections.newSetFromMap(new IdentityHashMap<>()));
    }

    /** {@code open} holds the collections being read around this node, to catch an alias to one of them. */
    private Object plain(Node node, String path, Set<Node> open) {
        if (node instanceof ScalarNode scalar) {
            return scalar(scalar, path);
        }
        if (!open.add(node)) {
            problems.add(path + " contains itself through a YAML alias");
            return null;
        }
        try {
            if (node instanceof SequenceNode sequence) {
                List<Object> list = new ArrayList<>();
                List<Node> items = sequence.getValue();
                for (int i = 0; i < items.size(); i++) {
                    list.add(plain(items.get(i), path + "[" + i + "]", open));
                }
                return list;
            }
            Map<String, Node> entries = new LinkedHashMap<>();
            collectEntries((MappingNode) node, entries, path, true, open);
            Map<String, Object> map = new LinkedHashMap<>();
            entries.forEach((key, value) -> map.put(key, plain(value, child(path, key), open)));
            return map;
        } finally {
            open.remove(node);
        }
    }

    /** Collects a mapping's entries; explicit keys win over merged ones ({@code <<: *defaults}), earlier merges win. */
    private void collectEntries(MappingNode node, Map<String, Node> entries, String path, boolean explicit,
            Set<Node> open) {
        Map<String, Integer> lines = new HashMap<>();
        List<Node> merges = new ArrayList<>();
        for (NodeTuple tuple : node.getValue()) {
            Node keyNode = tuple.getKeyNode();
            if (keyNode.getTag().equals(Tag.MERGE)) {
                merges.add(tuple.getValueNode());
                continue;
            }
            int line = keyNode.getStartMark().getLine() + 1;
            if (!(keyNode instanceof ScalarNode scalarKey)) {
                problems.add(at(path) + "has a key that is not a plain name (line " + line + ")");
                continue;
            }
            String key = scalarKey.getValue();
            Integer firstLine = lines.putIfAbsent(key, line);
            if (firstLine != null) {
                problems.add(child(path, key) + " is given twice (lines " + firstLine + " and " + line + ")");
            } else if (explicit) {
                entries.put(key, tuple.getValueNode());
            } else {
                entries.putIfAbsent(key, tuple.getValueNode());
            }
        }
        for (Node merge : merges) {
            List<Node> sources = merge instanceof SequenceNode sequence ? sequence.getValue() : List.of(merge);
            for (Node source : sources) {
                if (source instanceof MappingNode mapping && open.add(mapping)) {
                    try {
                        collectEntries(mapping, entries, path, false, open);
                    } finally {
                        open.remove(mapping);
                    }
                } else {
                    problems.add(at(path) + "has a '<<' merge key that does not name a mapping (line "
                            + (source.getStartMark().getLine() + 1) + ")");
                }
            }
        }
    }

    private Object scalar(ScalarNode node, String path) {
        String text = node.getValue();
        Tag tag = node.getTag();
        if (isPlaceholder(text)) {
            problems.notePlaceholder(path);
            problems.add(isSecretPath(path)
                    ? path + " is still a placeholder: fill it in"
                    : path + " is still a placeholder ('" + abbreviate(text) + "'): fill it in");
            return text;
        }
        if (tag.equals(Tag.STR) || tag.equals(Tag.TIMESTAMP) || tag.equals(Tag.BINARY)) {
            // Timestamps stay text: plugins and the mock's JSON expect what was written, not a java.util.Date.
            return text;
        }
        if (tag.equals(Tag.NULL) || tag.equals(Tag.BOOL) || tag.equals(Tag.INT) || tag.equals(Tag.FLOAT)) {
            problems.noteScalarText(path, text);
            try {
                return scalarConstructor.construct(node);
            } catch (YAMLException e) {
                problems.add(path + " cannot be read as " + tag.getValue() + ": " + e.getMessage());
                return null;
            }
        }
        problems.add(path + " has the YAML tag " + tag.getValue() + ", which is not supported here");
        return null;
    }

    private static String at(String path) {
        return path.isEmpty() ? "the top level " : path + " ";
    }

    /** SnakeYAML's own construction of null, booleans, integers and floats (YAML 1.1, like the original's PyYAML). */
    private static final class ScalarConstructor extends SafeConstructor {

        ScalarConstructor() {
            super(new LoaderOptions());
        }

        Object construct(ScalarNode node) {
            return constructObject(node);
        }
    }
}
