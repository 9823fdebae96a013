// How a simulated device talks to the outside: its device's MQTT link. Set inputs arrive on
// `pifog/<device>/sim/<input>/set`; what outputs show is published, retained, under `pifog/<device>/sim/`.
import type { Topic } from "../../contract";

export interface SimBus {
  readonly device: string;
  subscribe(topic: string, handler: (payload: Buffer) => void): () => void;
  /** May return when the broker has it (a dying process waits for an output's safe level to get out). */
  /** `payload` is encoded already: a level or word as text, a frame as JSON. */
  publish(topic: Topic<unknown>, payload: string, retain: boolean): void | Promise<void>;
  warn(message: string): void;
}
