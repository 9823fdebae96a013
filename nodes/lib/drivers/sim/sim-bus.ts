// How a simulated device talks to the outside: its device's MQTT link. Set inputs arrive on
// `pifog/<device>/sim/<input>/set`; what outputs show is published, retained, under `pifog/<device>/sim/`.
export interface SimBus {
  readonly device: string;
  subscribe(topic: string, handler: (payload: Buffer) => void): () => void;
  /** May return when the broker has it (a dying process waits for an output's safe level to get out). */
  publish(topic: string, payload: string, retain: boolean): void | Promise<void>;
  warn(message: string): void;
}
