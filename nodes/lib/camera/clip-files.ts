// Where the hub keeps a stored item's bytes: a folder of the data dir (default) or an S3 bucket (an `s3-bucket`
// config node). One interface, so the clip store and the viewer API never ask which.
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { PRIVATE_DIR, PRIVATE_FILE } from "../runtime/file-modes";
import { putObject, type S3Target } from "../s3/client";

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface ClipFiles {
  readonly location: "local" | "s3";
  /** Stores the file at `source` under `key` (a local store moves it; S3 uploads it). Durable when it resolves. */
  put(key: string, source: string, contentType: string): Promise<void>;
  /** The bytes of `key` (all, or a range). */
  open(key: string, range?: ByteRange): Promise<Readable>;
  read(key: string): Promise<Buffer>;
  remove(key: string): Promise<void>;
}

const SAFE_KEY = /^[A-Za-z0-9_.-]{1,64}\/[A-Za-z0-9_.-]{1,80}$/;

function checkKey(key: string): void {
  if (!SAFE_KEY.test(key) || key.includes("..")) throw new Error(`not a clip key: ${key}`);
}

/** `<dir>/<device>/<file>`: files moved in by rename after an fsync, so a stored item is complete on disk. */
export class LocalClipFiles implements ClipFiles {
  readonly location = "local" as const;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  }

  private file(key: string): string {
    checkKey(key);
    return path.join(this.dir, key);
  }

  async put(key: string, source: string): Promise<void> {
    const target = this.file(key);
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: PRIVATE_DIR });
    const fd = fs.openSync(source, "r+");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.renameSync(source, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      fs.copyFileSync(source, target);
      fs.rmSync(source, { force: true });
    }
    fs.chmodSync(target, PRIVATE_FILE);
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.file(key);
    await fs.promises.access(file);
    return fs.createReadStream(file, range ? { start: range.start, end: range.end } : {});
  }

  async read(key: string): Promise<Buffer> {
    return fs.promises.readFile(this.file(key));
  }

  async remove(key: string): Promise<void> {
    await fs.promises.rm(this.file(key), { force: true });
  }
}

type Sdk = typeof import("@aws-sdk/client-s3");
function sdk(): Sdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@aws-sdk/client-s3") as Sdk;
}

/** `<prefix><device>/<file>` in the bucket of an s3-bucket config node. */
export class S3ClipFiles implements ClipFiles {
  readonly location = "s3" as const;

  constructor(
    private readonly target: S3Target,
    private readonly prefix = "clips/",
    private readonly multipartAbove = 5 * 1024 * 1024,
  ) {}

  async put(key: string, source: string, contentType: string): Promise<void> {
    checkKey(key);
    const body = await fs.promises.readFile(source);
    await putObject(this.target.client(), this.target.s3.bucket, this.prefix + key, body, contentType, {}, new AbortController().signal, this.multipartAbove);
    await fs.promises.rm(source, { force: true });
  }

  async open(key: string, range?: ByteRange): Promise<Readable> {
    checkKey(key);
    const out = await this.target.client().send(
      new (sdk().GetObjectCommand)({ Bucket: this.target.s3.bucket, Key: this.prefix + key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
    );
    const body = out.Body as unknown;
    if (body instanceof Readable) return body;
    const bytes = await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    return Readable.from([Buffer.from(bytes)]);
  }

  async read(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.open(key)) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  async remove(key: string): Promise<void> {
    checkKey(key);
    await this.target.client().send(new (sdk().DeleteObjectCommand)({ Bucket: this.target.s3.bucket, Key: this.prefix + key }));
  }
}
