// A real S3-compatible server for tests: s3rver (pure JS) on a free loopback port with a temp directory,
// stoppable and restartable on the same port (the objects stay on disk across restarts).
// s3rver checks the access key id (only "S3RVER" exists) but not the V4 signature, so a wrong secret key is
// accepted; a wrong access key id gets 403 InvalidAccessKeyId.
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type GetObjectCommandOutput,
} from "@aws-sdk/client-s3";
import fs from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports";

interface S3rverServer {
  run(): Promise<unknown>;
  close(): Promise<void>;
  httpServer?: http.Server;
}
// s3rver ships no types
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => S3rverServer;

export const S3_ACCESS_KEY_ID = "S3RVER";
export const S3_SECRET_ACCESS_KEY = "S3RVER";

export interface StoredObject {
  body: Buffer;
  contentType: string | undefined;
  metadata: Record<string, string>;
}

export class TestS3 {
  private server: S3rverServer | null = null;
  private readonly admin: S3Client;

  private constructor(
    readonly port: number,
    readonly directory: string,
    private readonly buckets: string[],
  ) {
    this.admin = new S3Client({
      endpoint: this.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  static async start(buckets: string[] = ["faces"]): Promise<TestS3> {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-s3-"));
    const s3 = new TestS3(await freePort(), directory, buckets);
    await s3.resume();
    return s3;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Starts (again) on the same port and directory. */
  async resume(): Promise<void> {
    const server = new S3rver({
      port: this.port,
      address: "127.0.0.1",
      silent: true,
      directory: this.directory,
      configureBuckets: this.buckets.map((name) => ({ name, configs: [] })),
    });
    await server.run();
    this.server = server;
  }

  /** Stops accepting connections and drops the open ones (as a crashed server would). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.httpServer?.closeAllConnections();
    await server.close();
  }

  async close(): Promise<void> {
    await this.stop();
    this.admin.destroy();
    fs.rmSync(this.directory, { recursive: true, force: true });
  }

  async createBucket(name: string): Promise<void> {
    await this.admin.send(new CreateBucketCommand({ Bucket: name }));
  }

  async keys(bucket = "faces"): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.admin.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async get(key: string, bucket = "faces"): Promise<StoredObject> {
    const out: GetObjectCommandOutput = await this.admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = await out.Body!.transformToByteArray();
    return { body: Buffer.from(bytes), contentType: out.ContentType, metadata: out.Metadata ?? {} };
  }
}
