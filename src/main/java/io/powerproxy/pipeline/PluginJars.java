package io.powerproxy.pipeline;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The class loader for third-party plugin jars: every {@code *.jar} in a folder, on top of the proxy's own classes. */
public final class PluginJars {

    private PluginJars() {
    }

    /**
     * A class loader over the jars in {@code folder} (sorted by name), or {@code parent} itself when the folder
     * does not exist or holds no jar.
     */
    public static ClassLoader classLoader(Path folder, ClassLoader parent) {
        List<URL> jars = jars(folder).stream().map(PluginJars::url).toList();
        return jars.isEmpty() ? parent : new URLClassLoader("plugins", jars.toArray(URL[]::new), parent);
    }

    /** The plugin jars in a folder, sorted by name; empty when the folder does not exist. */
    public static List<Path> jars(Path folder) {
        if (folder == null || !Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(folder)) {
            return new ArrayList<>(files.filter(f -> f.getFileName().toString().endsWith(".jar") && Files.isRegularFile(f))
                    .sorted().toList());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list plugin jars in " + folder, e);
        }
    }

    private static URL url(Path jar) {
        try {
            return jar.toUri().toURL();
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("not a usable jar path: " + jar, e);
        }
    }
}
