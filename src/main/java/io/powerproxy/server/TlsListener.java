package io.powerproxy.server;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.security.GeneralSecurityException;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/** The JDK's HttpsServer on the proxy's port, TLS 1.3 and 1.2 only, with a key manager that follows file changes. */
final class TlsListener {

    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private TlsListener() {
    }

    /** Reads the files (IllegalArgumentException with what to fix) and binds; the caller starts the server. */
    static HttpsServer create(InetSocketAddress address, int backlog, TlsFiles files) throws IOException {
        ReloadingKeyManager keys = ReloadingKeyManager.load(files);
        SSLContext context;
        try {
            context = SSLContext.getInstance("TLS");
            context.init(new KeyManager[] {keys}, null, null);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK offers no TLS: " + e, e);
        }
        SSLParameters parameters = context.getDefaultSSLParameters();
        parameters.setProtocols(PROTOCOLS);
        HttpsServer server = HttpsServer.create(address, backlog);
        server.setHttpsConfigurator(new HttpsConfigurator(context) {
            @Override
            public void configure(HttpsParameters params) {
                params.setSSLParameters(parameters);
            }
        });
        return server;
    }
}
