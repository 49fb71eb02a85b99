package io.powerproxy.budgets;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Token budgets of this process alone: one immutable window per client and deployment, swapped with
 * compare-and-set; a window of an earlier minute counts as empty (refilled on access, never by a timer).
 */
public final class LocalTokenBudgets implements TokenBudgets {

    private record Key(String client, String deployment) {
    }

    private record Window(long minute, long used) {
    }

    private final ConcurrentHashMap<Key, AtomicReference<Window>> windows = new ConcurrentHashMap<>();

    @Override
    public long used(String client, String deployment, long minute) {
        AtomicReference<Window> window = windows.get(new Key(client, deployment));
        if (window == null) {
            return 0;
        }
        Window current = window.get();
        return current.minute() == minute ? current.used() : 0;
    }

    @Override
    public void add(String client, String deployment, long minute, long tokens) {
        AtomicReference<Window> window = windows.computeIfAbsent(new Key(client, deployment),
                k -> new AtomicReference<>(new Window(minute, 0)));
        window.updateAndGet(current -> {
            if (current.minute() == minute) {
                return new Window(minute, current.used() + tokens);
            }
            // A late record of an earlier minute does not reopen that minute.
            return current.minute() > minute ? current : new Window(minute, tokens);
        });
    }
}
