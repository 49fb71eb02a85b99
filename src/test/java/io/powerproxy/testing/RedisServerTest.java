package io.powerproxy.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** The test Redis keeps its port while killed, so that nothing else can take it before the restart. */
class RedisServerTest {

    @Test
    void aKilledServerKeepsItsPortFromOtherSocketsAndRestartsOnIt() throws Exception {
        try (RedisServer redis = RedisServer.start()) {
            redis.kill();

            assertThrows(IOException.class, () -> {
                try (ServerSocket other = new ServerSocket()) {
                    other.bind(new InetSocketAddress("127.0.0.1", redis.port()));
                }
            }, "another socket took the killed server's port");

            redis.restart();
            try (Jedis jedis = redis.client()) {
                assertEquals("PONG", jedis.ping());
            }
        }
    }
}
