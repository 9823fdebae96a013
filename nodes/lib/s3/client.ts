// The S3 connection of an `s3-bucket` config node, shared with the `s3-writer` through this interface (a node
// never imports another node). The AWS SDK is required on first use only: a Pi that never uploads never loads it.
//
// Checksums: since 3.729 the AWS SDK v3 adds a CRC32 checksum (x-amz-checksum-crc32, and an aws-chunked body
// for streams) to every upload and validates response checksums. Several S3-compatible servers (s3rver, older
// MinIO, Ceph/Garage versions) reject or mis-store such requests, so by default the client is built with
// `requestChecksumCalculation: "WHEN_REQUIRED"` and `responseChecksumValidation: "WHEN_REQUIRED"`: checksums only
// where an operation requires them, as before. The config node's "checksums" setting "always" restores the SDK
// default (WHEN_SUPPORTED) for AWS itself.
import type { S3Client } from "@aws-sdk/client-s3";

export interface S3Settings {
  /** "" = AWS (the region's endpoint). */
  endpoint: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  checksums: "when-required" | "always";
  accessKeyId: string;
  secretAccessKey: string;
}

/** What an s3-bucket config node offers its users. */
export interface S3Target {
  readonly s3: S3Settings;
  /** The client (made on first call, then reused). */
  client(): S3Client;
}

export interface PutResult {
  etag: string;
  size: number;
}

type Sdk = typeof import("@aws-sdk/client-s3");
type Storage = typeof import("@aws-sdk/lib-storage");

/** Loaded on the first S3 call (Node's module cache keeps it after): a Pi that stores nothing never pays for it. */
function loadSdk(): Sdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@aws-sdk/client-s3") as Sdk;
}

export function createClient(s: S3Settings): S3Client {
  const { S3Client: Client } = loadSdk();
  const when = s.checksums === "always" ? "WHEN_SUPPORTED" : "WHEN_REQUIRED";
  return new Client({
    region: s.region || "us-east-1",
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.forcePathStyle,
    ...(s.accessKeyId ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } } : {}),
    requestChecksumCalculation: when,
    responseChecksumValidation: when,
    // the spool retries (with its own backoff, across restarts): one attempt per delivery here
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
  });
}

/** Stores one object: PutObject up to `multipartAbove` bytes, a lib-storage multipart Upload above. */
export async function putObject(
  client: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  contentType: string,
  metadata: Record<string, string>,
  signal: AbortSignal,
  multipartAbove: number,
): Promise<PutResult> {
  const params = { Bucket: bucket, Key: key, Body: body, ContentType: contentType, Metadata: metadata };
  if (body.length > multipartAbove) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const storage = require("@aws-sdk/lib-storage") as Storage;
    const upload = new storage.Upload({ client, params, queueSize: 1, partSize: Math.max(5 * 1024 * 1024, multipartAbove), leavePartsOnError: false });
    const abort = () => void upload.abort().catch(() => undefined);
    signal.addEventListener("abort", abort, { once: true });
    try {
      const done = await upload.done();
      return { etag: stripQuotes(done.ETag), size: body.length };
    } finally {
      signal.removeEventListener("abort", abort);
    }
  }
  const { PutObjectCommand } = loadSdk();
  const out = await client.send(new PutObjectCommand(params), { abortSignal: signal });
  return { etag: stripQuotes(out.ETag), size: body.length };
}

function stripQuotes(etag: string | undefined): string {
  return (etag ?? "").replace(/^"|"$/g, "");
}
