// GET /api/history?topic=&from=&to=&bucket=&limit=  and  GET /api/history/topics  (JSON)
// Every query is checked and held to its budget (query-params.ts) before it runs, and runs through its store's
// gate (query-gate.ts): a few at once, a few waiting, the rest told to come back (503, Retry-After).
import type { Express, Request, Response } from "express";
import type { Audit } from "../audit/audit";
import { requireRole, type ApiAuthParts } from "../security/api-auth";
import { systemClock, type Clock } from "../clock";
import { answerFrom, type AnswerRequest } from "./answer";
import { QueryBusy, QueryGate, DEFAULT_GATE, type QueryGateOptions } from "./query-gate";
import { HISTORY_BUDGET, QueryError, parseHistoryQuery } from "./query-params";
import type { HistoryStore } from "./types";

export interface HistoryProvider {
  readonly id: string;
  readonly store: HistoryStore | null;
}

export interface HistoryRoutesOptions {
  /** Who may read: a viewer's bearer token at least (POST /api/auth). */
  auth: ApiAuthParts;
  audit?: Pick<Audit, "record">;
  clock?: Clock;
  gate?: Partial<Omit<QueryGateOptions, "clock">>;
}

export function historyRoutes(app: Express, providers: () => HistoryProvider[], options: HistoryRoutesOptions): void {
  const reader = requireRole("viewer", options.auth);
  const clock = options.clock ?? systemClock;
  const gates = new WeakMap<HistoryStore, QueryGate>();
  const gateFor = (store: HistoryStore) => {
    let gate = gates.get(store);
    if (!gate) gates.set(store, (gate = new QueryGate({ ...DEFAULT_GATE, ...options.gate, clock })));
    return gate;
  };
  const storeFor = (req: Request): HistoryStore | null => {
    const all = providers();
    const wanted = typeof req.query.node === "string" ? all.find((p) => p.id === req.query.node) : all[0];
    return wanted?.store ?? null;
  };
  const refuse = (req: Request, res: Response, status: number, reason: string, retryAfterS?: number) => {
    options.audit?.record({
      event: status === 400 ? "history.query.refused" : "history.query.busy",
      via: "http",
      who: req.ip ?? req.socket.remoteAddress ?? "unknown",
      reason,
      status,
      query: req.originalUrl.slice(0, 300),
    });
    if (retryAfterS !== undefined) res.set("Retry-After", String(retryAfterS));
    res.status(status).json({ error: reason });
  };
  const fail = (req: Request, res: Response, err: unknown) => {
    if (res.headersSent) return;
    if (err instanceof QueryError) refuse(req, res, 400, err.message);
    else if (err instanceof QueryBusy) refuse(req, res, 503, err.message, err.retryAfterS);
    else res.status(500).json({ error: (err as Error).message });
  };

  const answer = (req: Request, res: Response, store: HistoryStore, a: AnswerRequest) => {
    // a caller who hung up while waiting for a turn costs no read
    let gone = false;
    res.on("close", () => (gone = true));
    gateFor(store)
      .run(() => (gone ? Promise.resolve(new Uint8Array(0)) : store.answer ? store.answer(a) : answerFrom(store, a)))
      .then(
        (bytes) => {
          if (gone) return;
          // sent as they are: res.send would hash megabytes for an ETag on the event loop
          res.set({ "Content-Type": "application/json; charset=utf-8", "Content-Length": String(bytes.byteLength) });
          res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        },
        (err) => fail(req, res, err),
      );
  };

  app.get("/api/history/topics", reader, (req, res) => {
    const store = storeFor(req);
    if (!store) return void res.status(503).json({ error: "no history node is running" });
    answer(req, res, store, { kind: "topics", limit: HISTORY_BUDGET.maxTopicList });
  });

  app.get("/api/history", reader, (req, res) => {
    const store = storeFor(req);
    if (!store) return void res.status(503).json({ error: "no history node is running" });
    let q;
    try {
      q = parseHistoryQuery(req.query as Record<string, unknown>, clock.now());
    } catch (err) {
      return void fail(req, res, err);
    }
    const { topics: topic, from, to, limit, bucket } = q;
    answer(
      req,
      res,
      store,
      bucket === null
        ? { kind: "messages", query: { topic, from, to, limit, maxBytes: HISTORY_BUDGET.maxBytes } }
        : { kind: "buckets", query: { topic, from, to, limit: HISTORY_BUDGET.maxPoints }, bucket },
    );
  });
}
