package io.powerproxy.server;

import java.nio.file.Path;

/**
 * Where the listener's TLS certificate chain and private key are: PEM files, re-read when they change.
 *
 * @param certificate the certificate chain, leaf first ({@code -----BEGIN CERTIFICATE-----} blocks)
 * @param privateKey the private key: PKCS#8 ({@code BEGIN PRIVATE KEY}: RSA, EC, Ed25519) or PKCS#1 RSA
 *     ({@code BEGIN RSA PRIVATE KEY}), not encrypted
 */
public record TlsFiles(Path certificate, Path privateKey) {
}
