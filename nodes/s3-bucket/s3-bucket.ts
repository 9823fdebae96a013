// The `s3-bucket` config node: where objects go (endpoint, region, bucket, path-style addressing) and the
// credentials (Node-RED credentials: never in the flow file). The SDK client is made on first use (see
// nodes/lib/s3/client.ts: lazy loading and the checksum settings S3-compatible servers accept).
import type { S3Client } from "@aws-sdk/client-s3";
import type { NodeAPI, NodeDef } from "node-red";
import { Node } from "node-red-contrib-typescript-node";
import { createClient, type S3Settings, type S3Target } from "../lib/s3/client";
import { given } from "../lib/node-red/config-value";

export interface S3BucketDef extends NodeDef {
  endpoint?: string;
  region?: string;
  bucket?: string;
  forcePathStyle?: boolean;
  checksums?: string;
}

export interface S3BucketCredentials {
  accessKeyId?: string;
  secretAccessKey?: string;
}

export function normaliseBucket(config: S3BucketDef, credentials: S3BucketCredentials): S3Settings {
  const endpoint = (given(config.endpoint) ?? "").replace(/\/+$/, "");
  if (endpoint !== "" && !/^https?:\/\/[^\s/]+/.test(endpoint)) throw new Error(`endpoint "${endpoint}" is not an http(s) URL`);
  const bucket = given(config.bucket) ?? "";
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`"${bucket}" is not a valid bucket name`);
  return {
    endpoint,
    region: given(config.region) ?? "us-east-1",
    bucket,
    // an S3-compatible server is usually addressed by path (no wildcard DNS for bucket.host)
    forcePathStyle: config.forcePathStyle ?? endpoint !== "",
    checksums: config.checksums === "always" ? "always" : "when-required",
    accessKeyId: given(credentials.accessKeyId) ?? "",
    secretAccessKey: given(credentials.secretAccessKey) ?? "",
  };
}

function defineS3Bucket(RED: NodeAPI) {
  return class S3Bucket extends Node implements S3Target {
    readonly s3: S3Settings;
    readonly problem: string | null = null;
    private made: S3Client | null = null;

    constructor(config: S3BucketDef) {
      super(RED);
      this.createNode(config);
      const credentials = (this as unknown as { credentials?: S3BucketCredentials }).credentials ?? {};
      let s: S3Settings;
      try {
        s = normaliseBucket(config, credentials);
      } catch (err) {
        this.problem = (err as Error).message;
        this.error(this.problem);
        s = normaliseBucket({ ...config, bucket: "invalid" }, credentials);
      }
      this.s3 = s;
      this.on("close", (done: () => void) => {
        this.made?.destroy();
        this.made = null;
        done();
      });
    }

    client(): S3Client {
      this.made ??= createClient(this.s3);
      return this.made;
    }
  };
}

export default function register(RED: NodeAPI): void {
  defineS3Bucket(RED).registerType(RED, "s3-bucket", {
    credentials: { accessKeyId: { type: "text" }, secretAccessKey: { type: "password" } },
  });
}
