// The part of qlobber (no types of its own) that the broker's persistence uses: MQTT topic matching for
// retained messages (QlobberTrue) and the offline subscriptions' trie aedes-persistence uses (QlobberSub).
declare module "qlobber" {
  export interface QlobberOptions {
    separator?: string;
    wildcard_one?: string;
    wildcard_some?: string;
    match_empty_levels?: boolean;
    max_words?: number;
    max_wildcard_somes?: number;
  }

  /** Tests topics against the filters added: no values. */
  export class QlobberTrue {
    constructor(options?: QlobberOptions);
    add(filter: string): this;
    remove(filter: string): this;
    test(topic: string): boolean;
    clear(): this;
  }
}

declare module "qlobber/aedes/qlobber-sub" {
  import type { QlobberOptions } from "qlobber";

  /** One client's subscription as the trie keeps it. */
  interface QlobberSubValue {
    clientId: string;
    topic: string;
    qos?: number;
    rh?: number;
    rap?: boolean;
    nl?: boolean;
  }

  /** A filter → (client id → subscription) trie; one value per client and filter. */
  class QlobberSub {
    constructor(options?: QlobberOptions);
    /** Subscriptions held (one per client and filter). */
    readonly subscriptionsCount: number;
    add(filter: string, value: QlobberSubValue): this;
    remove(filter: string, value: Pick<QlobberSubValue, "clientId" | "topic">): this;
    /** The subscriptions whose filter matches `topic`. */
    match(topic: string): QlobberSubValue[];
    clear(): this;
  }
  export = QlobberSub;
}
