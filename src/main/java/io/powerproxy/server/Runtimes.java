package io.powerproxy.server;

import io.powerproxy.pipeline.Plugin;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The current {@link ProxyRuntime} and those replaced by a config reload that requests still hold. A plugin that
 * several runtimes share (a reload kept it) is closed only when the last runtime that has it is closed.
 */
final class Runtimes {

    private final AtomicReference<ProxyRuntime> current = new AtomicReference<>();
    private final ReentrantLock lock = new ReentrantLock();
    /** How many open runtimes have each plugin, by identity; guarded by the lock. */
    private final Map<Plugin, Integer> pluginUses = new IdentityHashMap<>();
    /** Every runtime not closed yet, oldest first; guarded by the lock. */
    private final Set<ProxyRuntime> open = new LinkedHashSet<>();

    /** The runtime for one request, to be {@link ProxyRuntime#release released} when it has ended. */
    ProxyRuntime acquire() {
        while (true) {
            ProxyRuntime runtime = current.get();
            // Fails only when a reload replaced it and its last request ended in between: the new one is current.
            if (runtime.tryAcquire()) {
                return runtime;
            }
        }
    }

    /** The current runtime, to look at, not to serve a request with. */
    ProxyRuntime current() {
        return current.get();
    }

    /** Makes {@code next} current; the one it replaces is closed when its last request ends. */
    void install(ProxyRuntime next) {
        lock.lock();
        try {
            open.add(next);
            next.pipeline().plugins().forEach(plugin -> pluginUses.merge(plugin, 1, Integer::sum));
        } finally {
            lock.unlock();
        }
        ProxyRuntime replaced = current.getAndSet(next);
        if (replaced != null) {
            replaced.retire();
        }
    }

    /** Closes the plugins of a runtime no request holds any more that no other open runtime has. */
    void drained(ProxyRuntime runtime) {
        lock.lock();
        try {
            if (!open.remove(runtime)) {
                return;
            }
            Set<Plugin> stillUsed = Collections.newSetFromMap(new IdentityHashMap<>());
            for (Plugin plugin : runtime.pipeline().plugins()) {
                if (pluginUses.merge(plugin, -1, Integer::sum) == 0) {
                    pluginUses.remove(plugin);
                } else {
                    stillUsed.add(plugin);
                }
            }
            runtime.pipeline().closeAllBut(stillUsed);
        } finally {
            lock.unlock();
        }
    }

    /** At the stop: closes every plugin of every runtime, whether requests still hold it or not. */
    void closeAll() {
        List<ProxyRuntime> all;
        lock.lock();
        try {
            all = new ArrayList<>(open);
        } finally {
            lock.unlock();
        }
        // The current one first: it has the plugins in config order; older ones close only what is theirs alone.
        ProxyRuntime now = current.get();
        if (now != null) {
            drainedNow(now);
        }
        all.forEach(this::drainedNow);
    }

    private void drainedNow(ProxyRuntime runtime) {
        lock.lock();
        try {
            if (!open.remove(runtime)) {
                return;
            }
            Set<Plugin> closedAlready = Collections.newSetFromMap(new IdentityHashMap<>());
            for (Plugin plugin : runtime.pipeline().plugins()) {
                if (!pluginUses.containsKey(plugin)) {
                    closedAlready.add(plugin);
                }
                pluginUses.remove(plugin);
            }
            runtime.pipeline().closeAllBut(closedAlready);
        } finally {
            lock.unlock();
        }
    }
}
