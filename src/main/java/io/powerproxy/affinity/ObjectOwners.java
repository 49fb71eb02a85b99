package io.powerproxy.affinity;

import io.powerproxy.budgets.CircuitBreaker;
import io.powerproxy.budgets.CircuitBreaker.Permit;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.JedisPooled;
import redis.clients.jedis.params.SetParams;

/**
 * Which endpoint owns each object: remembered in this process and, when Redis is configured, in Redis too, so that
 * every replica finds the owner of an object another replica saw created. Keys are {@code powerproxy:owner:<id>},
 * values endpoint names, each set to expire as the local entry does.
 *
 * <p>Lookups ask this process first and Redis only for ids it does not know. Redis down must not stop serving: a few
 * failed calls in a row open a {@link CircuitBreaker}, and while it is open owners are remembered and looked up in
 * this process only (objects created meanwhile are unknown to the other replicas); the outage is logged once when it
 * starts and once when it ends. Ids are checked by {@link ObjectCall#validId} before they get here.
 */
final class ObjectOwners implements AutoCloseable {

    static final String KEY_PREFIX = "powerproxy:owner:";

    private static final Logger LOG = LoggerFactory.getLogger(ObjectOwners.class);

    private final RememberedOwners local;
    private final JedisPooled redis;
    private final String address;
    private final CircuitBreaker breaker;
    private final long ttlMillis;
    private final AtomicBoolean down = new AtomicBoolean();

    /**
     * @param redis the shared store, or null for this process only
     * @param address the store's name in log lines, e.g. {@code Redis at host:6380}
     */
    ObjectOwners(RememberedOwners local, JedisPooled redis, String address, CircuitBreaker breaker, Duration ttl) {
        this.local = local;
        this.redis = redis;
        this.address = address;
        this.breaker = breaker;
        this.ttlMillis = ttl.toMillis();
    }

    /** The endpoint name that owns the object, or null when no replica has seen it created or used. */
    String ownerOf(String id) {
        String owner = local.owner(id);
        if (owner != null || redis == null) {
            return owner;
        }
        Permit permit = breaker.permit();
        if (permit == Permit.SKIP) {
            return null;
        }
        try {
            owner = redis.get(KEY_PREFIX + id);
            succeeded(permit);
        } catch (RuntimeException e) {
            failed(permit, e);
            return null;
        }
        if (owner != null) {
            local.remember(id, owner, ttlMillis);
        }
        return owner;
    }

    /**
     * Remembers the owner of an object that was created or used with success. An entry that is at most half-way to
     * its expiry is left as it is, so an object in use stays remembered at the cost of one write per half lifetime.
     */
    void remember(String id, String endpoint) {
        if (endpoint.equals(local.owner(id)) && local.remainingMillis(id) > ttlMillis / 2) {
            return;
        }
        local.remember(id, endpoint, ttlMillis);
        if (redis == null) {
            return;
        }
        Permit permit = breaker.permit();
        if (permit == Permit.SKIP) {
            return;
        }
        try {
            redis.set(KEY_PREFIX + id, endpoint, SetParams.setParams().px(ttlMillis));
            succeeded(permit);
        } catch (RuntimeException e) {
            failed(permit, e);
        }
    }

    /** Forgets a deleted object, here and in Redis. */
    void forget(String id) {
        local.forget(id);
        if (redis == null) {
            return;
        }
        Permit permit = breaker.permit();
        if (permit == Permit.SKIP) {
            return;
        }
        try {
            redis.del(KEY_PREFIX + id);
            succeeded(permit);
        } catch (RuntimeException e) {
            failed(permit, e);
        }
    }

    private void succeeded(Permit permit) {
        breaker.succeeded(permit);
        if (permit == Permit.TRIAL && down.compareAndSet(true, false)) {
            LOG.info("{} answers again; object owners are shared by every replica again", address);
        }
    }

    private void failed(Permit permit, RuntimeException e) {
        if (breaker.failed(permit) && down.compareAndSet(false, true)) {
            // The message of a Jedis failure names the host and the cause, never the password.
            LOG.warn("{} unavailable ({}); object owners are remembered by this replica only until it answers again",
                    address, e.toString());
        } else {
            LOG.debug("{} call for object owners failed: {}", address, e.toString());
        }
    }

    @Override
    public void close() {
        if (redis != null) {
            redis.close();
        }
    }
}
