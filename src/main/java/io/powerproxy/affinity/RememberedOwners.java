package io.powerproxy.affinity;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * The owners this process remembers: object id to endpoint name, each until it expires, at most a fixed number of
 * them. Reads take no lock. When a new entry makes the map too large, one writer drops the expired entries and then
 * those that expire first, down to nine tenths of the bound, so that the map cannot grow without bound and the cost
 * of dropping is spread over a tenth of the bound's writes.
 */
final class RememberedOwners {

    private record Owner(String endpoint, long expiresAt) {
    }

    private final ConcurrentHashMap<String, Owner> owners = new ConcurrentHashMap<>();
    private final ReentrantLock trimming = new ReentrantLock();
    private final int maxEntries;
    private final LongSupplier clockMillis;

    /**
     * @param maxEntries how many owners are kept at most
     * @param clockMillis a monotonic clock, in ms
     */
    RememberedOwners(int maxEntries, LongSupplier clockMillis) {
        if (maxEntries < 10) {
            throw new IllegalArgumentException("maxEntries must be at least 10: " + maxEntries);
        }
        this.maxEntries = maxEntries;
        this.clockMillis = clockMillis;
    }

    /** The endpoint that owns the object, or null when none is remembered (or it expired). */
    String owner(String id) {
        Owner owner = owners.get(id);
        if (owner == null) {
            return null;
        }
        if (owner.expiresAt() - clockMillis.getAsLong() <= 0) {
            owners.remove(id, owner);
            return null;
        }
        return owner.endpoint();
    }

    /** How long the entry still lives, in ms; 0 when there is none. */
    long remainingMillis(String id) {
        Owner owner = owners.get(id);
        return owner == null ? 0 : Math.max(0, owner.expiresAt() - clockMillis.getAsLong());
    }

    void remember(String id, String endpoint, long ttlMillis) {
        owners.put(id, new Owner(endpoint, clockMillis.getAsLong() + ttlMillis));
        if (owners.size() > maxEntries && trimming.tryLock()) {
            try {
                trim();
            } finally {
                trimming.unlock();
            }
        }
    }

    void forget(String id) {
        owners.remove(id);
    }

    int size() {
        return owners.size();
    }

    private void trim() {
        long now = clockMillis.getAsLong();
        owners.values().removeIf(owner -> owner.expiresAt() - now <= 0);
        int excess = owners.size() - maxEntries * 9 / 10;
        if (excess <= 0) {
            return;
        }
        long[] expiries = owners.values().stream().mapToLong(Owner::expiresAt).toArray();
        Arrays.sort(expiries);
        long last = expiries[Math.min(excess, expiries.length) - 1];
        for (Map.Entry<String, Owner> entry : owners.entrySet()) {
            if (entry.getValue().expiresAt() <= last) {
                owners.remove(entry.getKey(), entry.getValue());
            }
        }
    }
}
