package io.powerproxy.json;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.util.JsonRecyclerPools;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * The process's one Jackson mapper, shared by every class that reads or writes JSON.
 *
 * <p>Jackson reuses its parsing and writing buffers through a recycler pool, by default one per thread in a
 * {@code ThreadLocal}. Each request here runs on a virtual thread of its own, so that default allocated fresh buffers
 * for every request and kept them as long as the thread lived: the whole length of a stream, about 10 KB per open
 * stream. One pool for the process hands the same few buffers from request to request instead.
 */
public final class Json {

    /** The mapper; thread-safe, configured once. */
    public static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
            .recyclerPool(JsonRecyclerPools.sharedConcurrentDequePool())
            .build()).build();

    /** The factory of {@link #MAPPER}, for streaming parsers. */
    public static final JsonFactory FACTORY = MAPPER.getFactory();

    private Json() {
    }
}
