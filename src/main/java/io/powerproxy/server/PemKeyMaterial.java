package io.powerproxy.server;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A private key and its certificate chain read from PEM files with the JDK alone.
 *
 * @param key the private key
 * @param chain the certificate chain, leaf first
 */
record PemKeyMaterial(PrivateKey key, X509Certificate[] chain) {

    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*(.*?)-----END \\1-----", Pattern.DOTALL);
    private static final List<String> PKCS8_ALGORITHMS = List.of("RSA", "EC", "Ed25519", "RSASSA-PSS");
    private static final String CONVERT = "convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8.pem";

    /** Reads both files; throws IllegalArgumentException saying which file is wrong and how to fix it. */
    static PemKeyMaterial read(TlsFiles files) {
        X509Certificate[] chain = certificates(files);
        PrivateKey key = privateKey(files);
        if (!matches(key, chain[0])) {
            throw new IllegalArgumentException("the private key " + files.privateKey()
                    + " does not belong to the first certificate of " + files.certificate() + " ("
                    + chain[0].getSubjectX500Principal().getName() + ")");
        }
        return new PemKeyMaterial(key, chain);
    }

    private static X509Certificate[] certificates(TlsFiles files) {
        byte[] pem;
        try {
            pem = Files.readAllBytes(files.certificate());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the TLS certificate " + files.certificate() + ": " + e);
        }
        try {
            List<X509Certificate> chain = CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(pem)).stream()
                    .map(X509Certificate.class::cast).toList();
            if (chain.isEmpty()) {
                throw new CertificateException("no certificate in it");
            }
            return chain.toArray(X509Certificate[]::new);
        } catch (CertificateException e) {
            throw new IllegalArgumentException("the TLS certificate " + files.certificate()
                    + " is not a PEM certificate chain (-----BEGIN CERTIFICATE----- blocks, leaf first): "
                    + e.getMessage());
        }
    }

    private static PrivateKey privateKey(TlsFiles files) {
        String pem;
        try {
            pem = Files.readString(files.privateKey(), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the TLS private key " + files.privateKey() + ": " + e);
        }
        Matcher block = BLOCK.matcher(pem);
        if (!block.find()) {
            throw new IllegalArgumentException("the TLS private key " + files.privateKey()
                    + " has no PEM block (-----BEGIN PRIVATE KEY-----)");
        }
        String type = block.group(1);
        String body = block.group(2);
        if (body.contains("ENCRYPTED") || type.equals("ENCRYPTED PRIVATE KEY")) {
            throw new IllegalArgumentException("the TLS private key " + files.privateKey()
                    + " is encrypted; the proxy reads unencrypted keys only: " + CONVERT);
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(body);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the TLS private key " + files.privateKey() + " is not valid base64");
        }
        byte[] pkcs8 = switch (type) {
            case "PRIVATE KEY" -> der;
            case "RSA PRIVATE KEY" -> rsaPkcs1ToPkcs8(der);
            default -> throw new IllegalArgumentException("the TLS private key " + files.privateKey() + " is a '"
                    + type + "'; the proxy reads 'PRIVATE KEY' (PKCS#8) and 'RSA PRIVATE KEY': " + CONVERT);
        };
        for (String algorithm : PKCS8_ALGORITHMS) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (GeneralSecurityException e) {
                // Not this algorithm: try the next.
            }
        }
        throw new IllegalArgumentException("the TLS private key " + files.privateKey()
                + " is no RSA, EC or Ed25519 key the JDK can read");
    }

    /** Wraps a PKCS#1 RSAPrivateKey into a PKCS#8 PrivateKeyInfo (algorithm rsaEncryption, no parameters). */
    private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
        byte[] version = {0x02, 0x01, 0x00};
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01,
            0x01, 0x01, 0x05, 0x00};
        byte[] octets = der(0x04, pkcs1);
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        content.writeBytes(version);
        content.writeBytes(algorithm);
        content.writeBytes(octets);
        return der(0x30, content.toByteArray());
    }

    private static byte[] der(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int length = content.length;
        if (length < 0x80) {
            out.write(length);
        } else {
            int bytes = (Integer.SIZE - Integer.numberOfLeadingZeros(length) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(length >>> (8 * i));
            }
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    /** Whether the key signs what the certificate's public key verifies. */
    private static boolean matches(PrivateKey key, X509Certificate certificate) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> null;
        };
        if (algorithm == null) {
            return true;
        }
        try {
            byte[] probe = "powerproxy".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
