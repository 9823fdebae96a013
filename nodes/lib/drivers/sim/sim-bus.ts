// How a simulated device talks to the outside: its device's MQTT link. Set inputs arrive on
// `pifog/<device>/sim/<input>/set`; what outputs show is published, retained, under `pifog/<device>/sim/`.
export interface SimBus {
  readonly device: string;
  subscribe(topic: string, handler: (payload: Buffer) => void): () => void;
  publish(topic: string, payload: string, retain: boolean): void;
  warn(message: string): void;
}
