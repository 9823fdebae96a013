// mqtt-packet (the encoder under mqtt.js, Node-RED's MQTT nodes and aedes) keeps a 2-byte Buffer for every one of
// the 65,536 packet identifiers once it first writes one: about 7 MB of heap for the life of the process, a cost a
// Pi Zero's 512 MB feels and a Pi's few MQTT clients never win back. A runtime without the embedded broker (a Pi)
// turns the cache off before its first connection; a hub's broker, which writes a packet identifier for every QoS 1
// delivery, keeps it.
export function dropPacketIdCache(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const packets = require("mqtt-packet") as { writeToStream: { cacheNumbers: boolean } };
  packets.writeToStream.cacheNumbers = false;
}
