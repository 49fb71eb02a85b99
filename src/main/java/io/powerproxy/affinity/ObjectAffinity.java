package io.powerproxy.affinity;

import com.fasterxml.jackson.databind.JsonNode;
import io.powerproxy.budgets.CircuitBreaker;
import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.budgets.RedisSettings;
import io.powerproxy.budgets.RedisTokenBudgets;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ObjectAffinityConfig;
import io.powerproxy.logging.Printable;
import io.powerproxy.upstream.Failover;
import io.powerproxy.upstream.UpstreamAnswer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps calls on an object at the endpoint that created it (README "Objects stay with their endpoint"): learns the
 * owner from the answers that create objects, sends the calls that follow up on an object to its owner and nowhere
 * else, looks for the owner of an object it does not know, and forgets a deleted object. Calls that concern no object
 * are routed exactly as without it, and so is everything when it is switched off or every endpoint talks to one
 * resource.
 */
public final class ObjectAffinity implements AutoCloseable {

    /** Owners remembered in this process at most: 138 to 150 bytes each (measured), so about 14 MB of heap. */
    static final int MAX_IN_MEMORY = 100_000;

    private static final Logger LOG = LoggerFactory.getLogger(ObjectAffinity.class);

    private final ObjectOwners owners;

    private ObjectAffinity(ObjectOwners owners) {
        this.owners = owners;
    }

    /** Object affinity switched off: every call is routed as a stateless one. */
    public static ObjectAffinity off() {
        return new ObjectAffinity(null);
    }

    /**
     * Object affinity as configured; opens no connection to Redis until a call needs it.
     *
     * @throws ConfigException when the {@code redis:} settings are not valid
     */
    public static ObjectAffinity create(ObjectAffinityConfig config, RedisOptions redisOptions) throws ConfigException {
        if (!config.enabled()) {
            return off();
        }
        RedisSettings redis = redisSettings(config);
        RememberedOwners local = new RememberedOwners(MAX_IN_MEMORY, redisOptions.monotonicMillis());
        CircuitBreaker breaker = CircuitBreaker.create(redisOptions.breakerOpenFor(),
                redisOptions.breakerFailuresToOpen(), redisOptions.monotonicMillis());
        if (redis != null) {
            LOG.info("object owners are shared through {} (TLS {}, timeout {} ms)", redis.address(),
                    redis.ssl() ? "on" : "off", redis.timeoutMillis());
        }
        return new ObjectAffinity(new ObjectOwners(local, redis == null ? null : RedisTokenBudgets.pool(redis,
                redisOptions), redis == null ? null : redis.address(), breaker, config.rememberFor()));
    }

    /**
     * The {@code redis:} settings of {@code aoai.object_affinity}, checked as LimitUsage's are; null when there are
     * none.
     *
     * @throws ConfigException with every problem, each naming its path
     */
    public static RedisSettings redisSettings(ObjectAffinityConfig config) throws ConfigException {
        if (config.redis() == null) {
            return null;
        }
        List<String> problems = new ArrayList<>();
        String path = config.path() + ".redis";
        if (config.redis().containsKey("redis_fail_mode")) {
            problems.add(path + ".redis_fail_mode has no meaning here: while Redis is down, object owners are always"
                    + " remembered by each replica itself; remove it");
        }
        RedisSettings settings = RedisSettings.parse(config.redis(), path, problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return settings;
    }

    /**
     * What the request does with objects; null when it concerns none, when affinity is off, or when every endpoint
     * talks to the same resource (then any endpoint knows every object).
     *
     * @param json the request body as a JSON object, or null
     */
    public ObjectCall callOf(String method, String rawPath, JsonNode json, Failover failover) {
        if (owners == null) {
            return null;
        }
        ObjectCall call = ObjectCall.of(method, rawPath, json);
        return call == null || failover.resources() < 2 ? null : call;
    }

    /**
     * Sends a call on objects: one that follows up on a known object to its owner only; one on an object nobody
     * remembers, named in its path, to each resource in turn until one does not answer 404; any other as usual.
     */
    public UpstreamAnswer route(ObjectCall call, Failover failover, String deployment, boolean streaming,
            String requestId, Failover.Attempts attempts) throws IOException, InterruptedException {
        if (call.followsUp()) {
            String owner = owners.ownerOf(call.objectId());
            if (owner != null) {
                UpstreamAnswer answer = failover.callAt(owner, call.objectId(), deployment, requestId, attempts);
                if (answer != null) {
                    return answer;
                }
                LOG.info("request {}: object {} was remembered at endpoint '{}', which is no longer configured; looking"
                        + " for it as for an unknown object", requestId, call.objectId(), Printable.of(owner));
            }
            if (call.idInPath()) {
                return failover.callDiscovering(deployment, streaming, requestId, attempts);
            }
        }
        return failover.call(deployment, streaming, requestId, attempts);
    }

    /**
     * Learns from an answer: a 2xx to a call on an object confirms its owner (or forgets it, for a deletion), and the
     * body of a 2xx to a creating call is watched for the new object's id.
     *
     * @param endpoint the endpoint that answered
     * @return the answer, its body watched where it creates an object
     */
    public UpstreamAnswer answered(ObjectCall call, String endpoint, UpstreamAnswer answer) {
        if (answer.status() / 100 != 2 || endpoint == null) {
            return answer;
        }
        if (call.deletes()) {
            owners.forget(call.objectId());
        } else if (call.followsUp()) {
            owners.remember(call.objectId(), endpoint);
        }
        if (call.answerKey() == null) {
            return answer;
        }
        List<String> types = answer.headers().get("content-type");
        String type = types == null || types.isEmpty() ? "" : types.get(0);
        boolean stream = type.startsWith("text/event-stream");
        if (!stream && !type.contains("json")) {
            return answer;
        }
        CreatedObjectReader body = new CreatedObjectReader(answer.body(), call.answerKey(), stream,
                id -> owners.remember(id, endpoint));
        return new UpstreamAnswer(answer.status(), answer.headers(), body, answer.readTimeout(), answer.permit());
    }

    @Override
    public void close() {
        if (owners != null) {
            owners.close();
        }
    }
}
