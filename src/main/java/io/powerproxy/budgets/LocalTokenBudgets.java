package io.powerproxy.budgets;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Token budgets of this process alone: one immutable window per client and deployment, swapped with
 * compare-and-set; a window of an earlier minute counts as empty (refilled on access, never by a timer). A window
 * counts the tokens used and those held by reservations alike.
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

    @Override
    public Reservation reserve(String client, String deployment, long minute, long tokens, long limit) {
        AtomicReference<Window> window = windows.computeIfAbsent(new Key(client, deployment),
                k -> new AtomicReference<>(new Window(minute, 0)));
        while (true) {
            Window current = window.get();
            // A window of a later minute (another request read the clock a moment later) is the one to book in, so
            // that the settlement finds it.
            long bookIn = Math.max(current.minute(), minute);
            long used = current.minute() == bookIn ? current.used() : 0;
            if (!Reservation.fits(used, tokens, limit)) {
                return Reservation.refused(client, deployment, bookIn, tokens, used);
            }
            if (window.compareAndSet(current, new Window(bookIn, used + tokens))) {
                return Reservation.granted(client, deployment, bookIn, tokens, used + tokens, false);
            }
        }
    }

    @Override
    public void settle(Reservation reservation, long usedTokens) {
        AtomicReference<Window> window = windows.get(new Key(reservation.client(), reservation.deployment()));
        long difference = usedTokens - reservation.tokens();
        if (window == null || difference == 0) {
            return;
        }
        // A minute that is over stays over: its window was replaced, and the difference has nowhere to go.
        window.updateAndGet(current -> current.minute() == reservation.minute()
                ? new Window(current.minute(), Math.max(0, current.used() + difference)) : current);
    }
}
