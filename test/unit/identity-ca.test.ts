// The local CA: certificates chain to it and to nothing else, expire, and a revocation list it signs makes node's
// tls refuse a revoked client certificate in a real handshake (what the broker's MQTTS listener relies on).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import net from "node:net";
import tls from "node:tls";
import {
  certificateInfo,
  createCa,
  createCrl,
  crlInfo,
  issueDevice,
  issueServer,
  verifyChain,
  type IssuedCertificate,
} from "../../nodes/lib/identity/ca";
import type { PemPair } from "../../nodes/lib/identity/types";

const DAY = 86_400_000;

interface Outcome {
  /** Whether the server's secureConnection fired (with rejectUnauthorized, only for a certificate it accepts). */
  connected: boolean;
  authorized?: boolean;
  /** OpenSSL's verdict on the client certificate, as node reports it (CERT_REVOKED, …). */
  authorizationError?: string;
  cn?: string;
}

/**
 * A TLS server asking for a client certificate from `ca`, with the revocation list `crl`; one client connects with
 * `client`. Resolves on the server's secureConnection or tlsClientError, whichever comes.
 */
async function handshake(ca: PemPair, server: IssuedCertificate, client: PemPair, crl: string, rejectUnauthorized: boolean): Promise<Outcome> {
  const srv = tls.createServer({ cert: server.cert, key: server.key, ca: ca.cert, crl, requestCert: true, rejectUnauthorized });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as net.AddressInfo).port;
  try {
    const outcome = new Promise<Outcome>((resolve) => {
      srv.once("secureConnection", (socket: tls.TLSSocket) => {
        const peer = socket.getPeerCertificate();
        const err = socket.authorizationError;
        resolve({
          connected: true,
          authorized: socket.authorized,
          ...(err ? { authorizationError: String((err as unknown as { code?: string }).code ?? err) } : {}),
          cn: peer.subject?.CN as string | undefined,
        });
        socket.end();
      });
      srv.once("tlsClientError", () => resolve({ connected: false }));
    });
    const sock = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: ca.cert, cert: client.cert, key: client.key });
    sock.on("error", () => undefined); // the server hangs up on a refused certificate; its side is what we assert on
    const result = await outcome;
    sock.destroy();
    return result;
  } finally {
    srv.close();
  }
}

describe("identity CA", () => {
  let ca: PemPair;
  let server: IssuedCertificate;
  const now = new Date();

  before(async () => {
    ca = await createCa({ now });
    server = await issueServer(ca, { hosts: ["localhost", "127.0.0.1"], now });
  });

  it("makes an ECDSA P-256 CA and a device certificate with CN = the device id, a lower-case hex serial, clientAuth", async () => {
    const d = await issueDevice(ca, { id: "doorpi", now });
    assert.match(d.serial, /^[0-9a-f]{32}$/);
    assert.match(d.key, /^-----BEGIN PRIVATE KEY-----/);
    const info = certificateInfo(d.cert);
    assert.equal(info.cn, "doorpi");
    assert.equal(info.serial, d.serial);
    assert.ok(info.notAfter.getTime() > now.getTime() + 800 * DAY);
    assert.ok(info.issuerMatches(ca.cert));
    const node = new X509Certificate(d.cert);
    assert.equal(node.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.ok(node.keyUsage?.includes("1.3.6.1.5.5.7.3.2"), "clientAuth EKU");
    assert.ok(await verifyChain(d.cert, ca.cert));
  });

  it("puts DNS names and IP addresses of a server certificate in its SAN, for serverAuth", () => {
    const info = certificateInfo(server.cert);
    assert.deepEqual(info.hosts.sort(), ["127.0.0.1", "localhost"]);
    const node = new X509Certificate(server.cert);
    assert.ok(node.keyUsage?.includes("1.3.6.1.5.5.7.3.1"), "serverAuth EKU");
    assert.ok(node.checkIP("127.0.0.1"));
    assert.ok(node.checkHost("localhost"));
  });

  it("does not verify a certificate from another CA", async () => {
    const other = await createCa({ now, commonName: "someone else" });
    const d = await issueDevice(other, { id: "doorpi", now });
    assert.equal(await verifyChain(d.cert, ca.cert), false);
    assert.equal(certificateInfo(d.cert).issuerMatches(ca.cert), false);
    // same subject name, other key: the signature check is what refuses it
    const twin = await createCa({ now });
    assert.equal(await verifyChain((await issueDevice(twin, { id: "x", now })).cert, ca.cert), false);
  });

  it("does not verify an expired certificate, nor one checked before it starts", async () => {
    const oldCa = await createCa({ now: new Date(now.getTime() - 20 * DAY) });
    const d = await issueDevice(oldCa, { id: "old", now: new Date(now.getTime() - 10 * DAY), days: 1 });
    assert.equal(await verifyChain(d.cert, oldCa.cert, now), false);
    assert.equal(await verifyChain(d.cert, oldCa.cert, new Date(now.getTime() - 9.5 * DAY)), true);
    const later = await issueDevice(ca, { id: "later", now: new Date(now.getTime() + DAY) });
    assert.equal(await verifyChain(later.cert, ca.cert, now), false);
  });

  it("does not verify garbage", async () => {
    assert.equal(await verifyChain("not a certificate", ca.cert), false);
    assert.equal(await verifyChain(ca.cert, "nope"), false);
  });

  it("refuses to issue past the CA's own end", async () => {
    const short = await createCa({ now, years: 1 });
    await assert.rejects(issueDevice(short, { id: "d", now, days: 400 }), /CA expires/);
  });

  it("signs a revocation list that names the revoked serials", async () => {
    const a = await issueDevice(ca, { id: "a", now });
    const b = await issueDevice(ca, { id: "b", now });
    const crl = await createCrl(ca, [{ serial: a.serial, revokedAt: now }, { serial: b.serial, revokedAt: now }], now);
    assert.match(crl, /^-----BEGIN X509 CRL-----/);
    const info = crlInfo(crl);
    assert.deepEqual(info.serials.sort(), [a.serial, b.serial].sort());
    assert.ok(info.nextUpdate && info.nextUpdate > now);
  });

  it("in a real TLS handshake: accepts a device certificate, refuses a revoked one, one from another CA, and none", async () => {
    const good = await issueDevice(ca, { id: "statuspi", now });
    const revoked = await issueDevice(ca, { id: "doorpi", now });
    const crl = await createCrl(ca, [{ serial: revoked.serial, revokedAt: now }], now);

    assert.deepEqual(await handshake(ca, server, good, crl, true), { connected: true, authorized: true, cn: "statuspi" });
    assert.deepEqual(await handshake(ca, server, revoked, crl, true), { connected: false });
    // what the broker can audit: the reason, from a listener that checks the verdict itself
    const seen = await handshake(ca, server, revoked, crl, false);
    assert.equal(seen.authorized, false);
    assert.equal(seen.authorizationError, "CERT_REVOKED");

    const other = await createCa({ now });
    const stranger = await issueDevice(other, { id: "statuspi", now });
    assert.deepEqual(await handshake(ca, server, stranger, crl, true), { connected: false });
    assert.equal((await handshake(ca, server, stranger, crl, false)).authorized, false);

    const empty = await createCrl(ca, [], now);
    assert.equal((await handshake(ca, server, revoked, empty, true)).authorized, true, "the same certificate passes without the revocation");
  });
});
