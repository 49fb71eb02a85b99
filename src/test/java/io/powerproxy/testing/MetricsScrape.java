package io.powerproxy.testing;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One scrape of {@code /powerproxy/metrics} in the Prometheus text format, parsed into series (name and labels) and
 * values, so that tests can ask for the value of one series.
 */
public final class MetricsScrape {

    /** One line of the scrape: a metric name, its labels in order, and its value. */
    public record Series(String name, Map<String, String> labels, double value) {
    }

    private final List<Series> series;
    private final Set<String> declaredNames;

    private MetricsScrape(List<Series> series, Set<String> declaredNames) {
        this.series = series;
        this.declaredNames = declaredNames;
    }

    /** Parses the text; fails on a line it cannot read. */
    public static MetricsScrape parse(String text) {
        List<Series> series = new ArrayList<>();
        Set<String> declared = new HashSet<>();
        for (String line : text.split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            if (line.startsWith("# TYPE ") || line.startsWith("# HELP ")) {
                declared.add(line.substring(7).split(" ")[0]);
                continue;
            }
            if (line.startsWith("#")) {
                continue;
            }
            series.add(parseLine(line));
        }
        return new MetricsScrape(List.copyOf(series), Set.copyOf(declared));
    }

    private static Series parseLine(String line) {
        int brace = line.indexOf('{');
        int space = line.indexOf(' ');
        if (brace < 0 || space < brace) {
            return new Series(line.substring(0, space), Map.of(), Double.parseDouble(line.substring(space + 1).trim()));
        }
        String name = line.substring(0, brace);
        Map<String, String> labels = new LinkedHashMap<>();
        int i = brace + 1;
        while (line.charAt(i) != '}') {
            int eq = line.indexOf('=', i);
            String label = line.substring(i, eq);
            StringBuilder value = new StringBuilder();
            int j = eq + 2;
            while (line.charAt(j) != '"') {
                char c = line.charAt(j);
                if (c == '\\') {
                    j++;
                    c = line.charAt(j) == 'n' ? '\n' : line.charAt(j);
                }
                value.append(c);
                j++;
            }
            labels.put(label, value.toString());
            i = j + 1;
            if (line.charAt(i) == ',') {
                i++;
            }
        }
        String rest = line.substring(i + 1).trim().split(" ")[0];
        return new Series(name, labels, Double.parseDouble(rest));
    }

    /**
     * The value of the series with this name and exactly these labels (given as name, value, name, value...), or 0
     * when there is no such series.
     */
    public double value(String name, String... labelPairs) {
        Map<String, String> wanted = new LinkedHashMap<>();
        for (int i = 0; i < labelPairs.length; i += 2) {
            wanted.put(labelPairs[i], labelPairs[i + 1]);
        }
        for (Series s : series) {
            if (s.name().equals(name) && s.labels().equals(wanted)) {
                return s.value();
            }
        }
        return 0;
    }

    /** Every series of this name. */
    public List<Series> all(String name) {
        return series.stream().filter(s -> s.name().equals(name)).toList();
    }

    /**
     * Every name the scrape knows: those in {@code # TYPE} and {@code # HELP} lines and those of its series (a
     * histogram's {@code _bucket}, {@code _sum} and {@code _count} among them).
     */
    public Set<String> names() {
        Set<String> names = new HashSet<>(declaredNames);
        series.forEach(s -> names.add(s.name()));
        return names;
    }
}
