package io.powerproxy.server;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The listener's key and certificate, re-read from their PEM files when a handshake finds them changed (checked at
 * most once a second), so that a renewed certificate is used without a restart; files that cannot be read keep the
 * last good pair in use.
 */
final class ReloadingKeyManager extends X509ExtendedKeyManager {

    private static final Logger LOG = LoggerFactory.getLogger(ReloadingKeyManager.class);
    private static final long CHECK_EVERY_NANOS = Duration.ofSeconds(1).toNanos();

    /** One loaded pair; the alias names its generation, so a handshake keeps the pair it chose. */
    private record Loaded(String alias, PemKeyMaterial material, Stamp stamp) {
    }

    /** What tells a changed file: modification times and sizes of both files. */
    private record Stamp(FileTime certificateTime, long certificateSize, FileTime keyTime, long keySize) {
        static Stamp of(TlsFiles files) throws IOException {
            return new Stamp(Files.getLastModifiedTime(files.certificate()), Files.size(files.certificate()),
                    Files.getLastModifiedTime(files.privateKey()), Files.size(files.privateKey()));
        }
    }

    private final TlsFiles files;
    private final ReentrantLock reloading = new ReentrantLock();
    private volatile Loaded current;
    private volatile Loaded previous;
    private volatile long nextCheckNanos;
    private Stamp failedStamp;
    private int generation;

    private ReloadingKeyManager(TlsFiles files, Loaded first) {
        this.files = files;
        this.current = first;
        this.previous = first;
        this.nextCheckNanos = System.nanoTime() + CHECK_EVERY_NANOS;
    }

    /** Reads the files once; throws IllegalArgumentException with what to fix when they cannot be used. */
    static ReloadingKeyManager load(TlsFiles files) {
        Stamp stamp;
        try {
            stamp = Stamp.of(files);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the TLS files " + files.certificate() + " and "
                    + files.privateKey() + ": " + e);
        }
        PemKeyMaterial material = PemKeyMaterial.read(files);
        LOG.info("TLS certificate {}", describe(material));
        return new ReloadingKeyManager(files, new Loaded("powerproxy-0", material, stamp));
    }

    /** The pair to use now, after re-reading the files when they changed. */
    private Loaded fresh() {
        if (System.nanoTime() - nextCheckNanos < 0 || !reloading.tryLock()) {
            return current;
        }
        try {
            nextCheckNanos = System.nanoTime() + CHECK_EVERY_NANOS;
            Stamp stamp = Stamp.of(files);
            if (stamp.equals(current.stamp()) || stamp.equals(failedStamp)) {
                return current;
            }
            try {
                PemKeyMaterial material = PemKeyMaterial.read(files);
                generation++;
                previous = current;
                current = new Loaded("powerproxy-" + generation, material, stamp);
                failedStamp = null;
                LOG.info("TLS certificate re-read: {}", describe(material));
            } catch (IllegalArgumentException e) {
                // A rotation may write the two files one after the other: the next change is tried again.
                failedStamp = stamp;
                LOG.warn("TLS files changed but cannot be used, keeping the previous certificate: {}", e.getMessage());
            }
        } catch (IOException e) {
            LOG.warn("cannot check the TLS files for changes, keeping the certificate in use: {}", e.toString());
        } finally {
            reloading.unlock();
        }
        return current;
    }

    private static String describe(PemKeyMaterial material) {
        X509Certificate leaf = material.chain()[0];
        return leaf.getSubjectX500Principal().getName() + ", " + material.key().getAlgorithm() + " key, valid until "
                + leaf.getNotAfter().toInstant() + ", chain of " + material.chain().length;
    }

    private Loaded byAlias(String alias) {
        Loaded now = current;
        if (Objects.equals(now.alias(), alias)) {
            return now;
        }
        Loaded before = previous;
        return Objects.equals(before.alias(), alias) ? before : null;
    }

    private String alias(String keyType) {
        Loaded loaded = fresh();
        return keyType != null && keyType.equals(loaded.material().key().getAlgorithm()) ? loaded.alias() : null;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return alias(keyType);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return alias(keyType);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        String alias = alias(keyType);
        return alias == null ? null : new String[] {alias};
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        Loaded loaded = byAlias(alias);
        return loaded == null ? null : loaded.material().chain().clone();
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        Loaded loaded = byAlias(alias);
        return loaded == null ? null : loaded.material().key();
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return null;
    }

    @Override
    public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
        return null;
    }

    @Override
    public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
        return null;
    }

}
