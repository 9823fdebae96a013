import assert from "node:assert/strict";
import path from "node:path";
import { ConfigError, readConfig } from "../../nodes/lib/runtime/config";

const CWD = path.resolve("/srv/pifog");

function configError(env: NodeJS.ProcessEnv, variable: string, value?: string): void {
  assert.throws(
    () => readConfig(env, CWD),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.ok(err.message.includes(variable), `"${err.message}" names ${variable}`);
      if (value !== undefined) assert.ok(err.message.includes(value), `"${err.message}" quotes ${value}`);
      return true;
    },
    JSON.stringify(env),
  );
}

describe("runtime config", () => {
  it("has the documented defaults with nothing set", () => {
    const c = readConfig({}, CWD);
    assert.deepEqual(c, {
      httpPort: 1880,
      identityDir: undefined,
      mqttPort: 1883,
      mqttsPort: 8883,
      brokerAnonymous: "loopback",
      brokerSync: "normal",
      mqttUrl: undefined,
      facesRemoteUrl: undefined,
      host: "0.0.0.0",
      dataDir: path.join(CWD, "data"),
      role: "all",
      deviceId: "all",
      hardware: "auto",
      adminPassword: undefined,
      signIn: { userAttempts: 5, addressAttempts: 20, lockMs: 60_000 },
      sessionMs: 12 * 60 * 60_000,
      operatorPassword: undefined,
      mqttMaxPacket: 8 * 1024 * 1024,
      mqttWsOrigins: [],
      hubUrl: undefined,
      pairing: { login: "certificate", pollMs: 3000, codeTtlMs: 600_000, requestsPerAddress: 10 },
      deviceHttpsPort: 8443,
    });
  });

  it("treats blank values as unset", () => {
    const c = readConfig(
      { PIFOG_HTTP_PORT: " ", PIFOG_MQTT_PORT: "", PIFOG_ROLE: " ", PIFOG_DEVICE_ID: "  ", PIFOG_DATA_DIR: " ", PIFOG_MQTT_URL: " ", PIFOG_HOST: "", PIFOG_ADMIN_PASSWORD: "" },
      CWD,
    );
    assert.equal(c.httpPort, 1880);
    assert.equal(c.mqttPort, 1883);
    assert.equal(c.role, "all");
    assert.equal(c.deviceId, "all");
    assert.equal(c.dataDir, path.join(CWD, "data"));
    assert.equal(c.mqttUrl, undefined);
    assert.equal(c.host, "0.0.0.0");
    assert.equal(c.adminPassword, undefined);
  });

  it("resolves the data dir against the working directory, and keeps an absolute one", () => {
    assert.equal(readConfig({ PIFOG_DATA_DIR: "./state" }, CWD).dataDir, path.join(CWD, "state"));
    assert.equal(readConfig({ PIFOG_DATA_DIR: "../shared/data" }, CWD).dataDir, path.resolve(CWD, "../shared/data"));
    assert.equal(readConfig({ PIFOG_DATA_DIR: "/var/lib/pifog" }, CWD).dataDir, "/var/lib/pifog");
    assert.ok(path.isAbsolute(readConfig({}).dataDir), "default cwd too");
  });

  it("uses the role as the device id unless one is given", () => {
    for (const role of ["hub", "doorpi", "statuspi", "all"] as const) {
      const c = readConfig({ PIFOG_ROLE: role }, CWD);
      assert.equal(c.role, role);
      assert.equal(c.deviceId, role);
    }
    assert.equal(readConfig({ PIFOG_ROLE: "doorpi", PIFOG_DEVICE_ID: "front-door.1" }, CWD).deviceId, "front-door.1");
  });

  it("reads every variable", () => {
    const c = readConfig(
      {
        PIFOG_HTTP_PORT: "8080",
        PIFOG_MQTT_PORT: "0",
        PIFOG_MQTT_URL: " mqtts://broker.local:8883 ",
        PIFOG_FACES_REMOTE_URL: "mqtt://cloud.example:1883",
        PIFOG_HOST: "127.0.0.1",
        PIFOG_DATA_DIR: "/tmp/pifog",
        PIFOG_ROLE: "statuspi",
        PIFOG_DEVICE_ID: "sp1",
        PIFOG_HARDWARE: "sim",
        PIFOG_ADMIN_PASSWORD: "s3cret pass",
        PIFOG_SIGNIN_ATTEMPTS: "3",
        PIFOG_SIGNIN_ADDRESS_ATTEMPTS: "10",
        PIFOG_SIGNIN_LOCK_SECONDS: "30",
        PIFOG_SIGNIN_NAME_ATTEMPTS: "40",
        PIFOG_SESSION_MINUTES: "90",
        PIFOG_OPERATOR_PASSWORD: "door pass",
        PIFOG_MQTT_MAX_PACKET: "4MiB",
        PIFOG_MQTT_WS_ORIGINS: "https://fog.example, http://Pi.Local:1880/",
        PIFOG_IDENTITY: "bundle/sp1",
        PIFOG_MQTTS_PORT: "18883",
        PIFOG_BROKER_ANONYMOUS: "127.0.0.1/32, 10.0.0.0/24",
        PIFOG_BROKER_SYNC: " FULL ",
        PIFOG_HUB_URL: " http://hub.local:1880/ ",
        PIFOG_PAIR_LOGIN: "password",
        PIFOG_PAIR_POLL_MS: "500",
        PIFOG_PAIR_CODE_SECONDS: "120",
        PIFOG_PAIR_REQUESTS: "4",
      },
      CWD,
    );
    assert.deepEqual(c, {
      httpPort: 8080,
      identityDir: path.resolve(CWD, "bundle/sp1"),
      mqttPort: 0,
      mqttsPort: 18883,
      brokerAnonymous: ["127.0.0.1/32", "10.0.0.0/24"],
      brokerSync: "full",
      mqttUrl: "mqtts://broker.local:8883",
      facesRemoteUrl: "mqtt://cloud.example:1883",
      host: "127.0.0.1",
      dataDir: "/tmp/pifog",
      role: "statuspi",
      deviceId: "sp1",
      hardware: "sim",
      adminPassword: "s3cret pass",
      signIn: { userAttempts: 3, addressAttempts: 10, lockMs: 30_000, nameAttempts: 40 },
      sessionMs: 90 * 60_000,
      operatorPassword: "door pass",
      mqttMaxPacket: 4 * 1024 * 1024,
      mqttWsOrigins: ["https://fog.example", "http://pi.local:1880"],
      hubUrl: "http://hub.local:1880",
      pairing: { login: "password", pollMs: 500, codeTtlMs: 120_000, requestsPerAddress: 4 },
      deviceHttpsPort: 8443,
    });
  });

  it("takes the device HTTPS port, the hub's device URL and the public URL, and refuses bad ones clearly", () => {
    const c = readConfig({ PIFOG_DEVICE_HTTPS_PORT: "0", PIFOG_HUB_DEVICE_URL: "https://hub.local:9443/", PIFOG_PUBLIC_URL: "https://fog.example/" }, CWD);
    assert.equal(c.deviceHttpsPort, 0);
    assert.equal(c.hubDeviceUrl, "https://hub.local:9443");
    assert.equal(c.publicUrl, "https://fog.example");
    assert.throws(() => readConfig({ PIFOG_DEVICE_HTTPS_PORT: "70000" }, CWD), /PIFOG_DEVICE_HTTPS_PORT must be a port number/);
    assert.throws(() => readConfig({ PIFOG_HUB_DEVICE_URL: "http://hub.local:8443" }, CWD), /PIFOG_HUB_DEVICE_URL must be the hub's device address/);
    assert.throws(() => readConfig({ PIFOG_PUBLIC_URL: "ftp://x" }, CWD), /PIFOG_PUBLIC_URL must be/);
    assert.throws(() => readConfig({ PIFOG_BROKER_SYNC: "off" }, CWD), /PIFOG_BROKER_SYNC must be normal or full/);
  });

  it("takes the hub's HTTP address for a Pi that pairs, and refuses anything else clearly", () => {
    assert.equal(readConfig({ PIFOG_ROLE: "doorpi", PIFOG_HUB_URL: "https://[fd00::1]:8443" }, CWD).hubUrl, "https://[fd00::1]:8443");
    configError({ PIFOG_ROLE: "doorpi", PIFOG_HUB_URL: "mqtts://hub:8883" }, "PIFOG_HUB_URL", "mqtts://hub:8883");
    configError({ PIFOG_ROLE: "doorpi", PIFOG_HUB_URL: "http://hub:1880/ui" }, "PIFOG_HUB_URL", "/ui");
    configError({ PIFOG_ROLE: "doorpi", PIFOG_HUB_URL: "hub.local" }, "PIFOG_HUB_URL", "hub.local");
    configError({ PIFOG_ROLE: "hub", PIFOG_HUB_URL: "http://hub:1880" }, "PIFOG_HUB_URL", "hub");
    configError({ PIFOG_HUB_URL: "http://hub:1880" }, "PIFOG_HUB_URL", "all");
    configError({ PIFOG_PAIR_LOGIN: "token" }, "PIFOG_PAIR_LOGIN", "token");
    configError({ PIFOG_PAIR_POLL_MS: "0" }, "PIFOG_PAIR_POLL_MS", "0");
    configError({ PIFOG_PAIR_CODE_SECONDS: "ten" }, "PIFOG_PAIR_CODE_SECONDS", "ten");
  });

  it("reads who may connect anonymously: loopback, off, CIDRs; anything else is a ConfigError", () => {
    assert.equal(readConfig({ PIFOG_BROKER_ANONYMOUS: "off" }, CWD).brokerAnonymous, "off");
    assert.equal(readConfig({ PIFOG_BROKER_ANONYMOUS: " Loopback " }, CWD).brokerAnonymous, "loopback");
    assert.deepEqual(readConfig({ PIFOG_BROKER_ANONYMOUS: "::1/128,192.168.1.7" }, CWD).brokerAnonymous, ["::1/128", "192.168.1.7"]);
    configError({ PIFOG_BROKER_ANONYMOUS: "everyone" }, "PIFOG_BROKER_ANONYMOUS", "everyone");
    configError({ PIFOG_BROKER_ANONYMOUS: "10.0.0.0/33" }, "PIFOG_BROKER_ANONYMOUS", "10.0.0.0/33");
  });

  it("a sign-in limit that is not a whole number in range is a ConfigError naming the variable", () => {
    configError({ PIFOG_SIGNIN_ATTEMPTS: "0" }, "PIFOG_SIGNIN_ATTEMPTS", "0");
    configError({ PIFOG_SIGNIN_ADDRESS_ATTEMPTS: "many" }, "PIFOG_SIGNIN_ADDRESS_ATTEMPTS", "many");
    configError({ PIFOG_SIGNIN_LOCK_SECONDS: "1.5" }, "PIFOG_SIGNIN_LOCK_SECONDS", "1.5");
    configError({ PIFOG_SIGNIN_NAME_ATTEMPTS: "-1" }, "PIFOG_SIGNIN_NAME_ATTEMPTS", "-1");
    configError({ PIFOG_SESSION_MINUTES: "0" }, "PIFOG_SESSION_MINUTES", "0");
  });

  it("reads the MQTT packet limit in bytes or with a unit, within what MQTT allows", () => {
    const size = (v: string) => readConfig({ PIFOG_MQTT_MAX_PACKET: v }, CWD).mqttMaxPacket;
    assert.equal(size("8388608"), 8388608);
    assert.equal(size("512KiB"), 512 * 1024);
    assert.equal(size("512k"), 512 * 1024);
    assert.equal(size(" 8 MB "), 8_000_000);
    assert.equal(size("1.5MiB"), 1.5 * 1024 * 1024);
    assert.equal(size("256MiB"), 256 * 1024 * 1024);
    for (const bad of ["lots", "-1", "8 GiB", "0", "100", "300MiB", "8 MiB x"]) configError({ PIFOG_MQTT_MAX_PACKET: bad }, "PIFOG_MQTT_MAX_PACKET", bad);
  });

  it("a WebSocket origin that is not one is a ConfigError naming the variable", () => {
    for (const bad of ["fog.example", "ftp://fog.example", "https://"]) configError({ PIFOG_MQTT_WS_ORIGINS: bad }, "PIFOG_MQTT_WS_ORIGINS", bad);
    assert.deepEqual(readConfig({ PIFOG_MQTT_WS_ORIGINS: "*" }, CWD).mqttWsOrigins, ["*"]);
  });

  it("refuses a faces remote broker that is not an MQTT URL", () => {
    assert.throws(() => readConfig({ PIFOG_FACES_REMOTE_URL: "http://cloud" }, CWD), /PIFOG_FACES_REMOTE_URL must start with mqtt/);
  });

  it("accepts every broker URL scheme the mqtt client speaks", () => {
    for (const url of ["mqtt://hub:1883", "mqtts://hub", "ws://hub:1880/mqtt", "wss://hub/mqtt"]) {
      assert.equal(readConfig({ PIFOG_MQTT_URL: url }, CWD).mqttUrl, url);
    }
  });

  it("an operator password that is the editor's is a ConfigError naming both variables", () => {
    configError({ PIFOG_ADMIN_PASSWORD: "same", PIFOG_OPERATOR_PASSWORD: "same" }, "PIFOG_OPERATOR_PASSWORD");
    configError({ PIFOG_ADMIN_PASSWORD: "same", PIFOG_OPERATOR_PASSWORD: "same" }, "PIFOG_ADMIN_PASSWORD");
  });

  it("a bad port is a ConfigError naming the variable", () => {
    for (const bad of ["http", "-1", "65536", "1880.5", "80 80", "NaN", "Infinity"]) {
      configError({ PIFOG_HTTP_PORT: bad }, "PIFOG_HTTP_PORT", bad);
      configError({ PIFOG_MQTT_PORT: bad }, "PIFOG_MQTT_PORT", bad);
    }
    assert.equal(readConfig({ PIFOG_HTTP_PORT: "65535" }, CWD).httpPort, 65535);
  });

  it("a bad role is a ConfigError naming the variable and the roles", () => {
    for (const bad of ["kitchen", "DoorPi", "HUB", "door pi"]) {
      configError({ PIFOG_ROLE: bad }, "PIFOG_ROLE", bad);
    }
    configError({ PIFOG_ROLE: "kitchen" }, "all, hub, sensorhub, doorpi, statuspi, sensors, powerpi, powerhub, buttonpi, camerapi, facewriter");
  });

  it("a device id that is not one topic level is a ConfigError naming the variable", () => {
    for (const bad of ["a/b", "+", "#", "door pi", "dp#1", "x".repeat(65), "tür"]) {
      configError({ PIFOG_DEVICE_ID: bad }, "PIFOG_DEVICE_ID", bad);
    }
  });

  it("a broker URL with another scheme is a ConfigError naming the variable", () => {
    for (const bad of ["http://hub:1883", "hub:1883", "tcp://hub", "localhost"]) {
      configError({ PIFOG_MQTT_URL: bad }, "PIFOG_MQTT_URL", bad);
    }
  });

  it("takes a broker cluster's nodes as a comma list, each one checked", () => {
    const nodes = "mqtt://nats-1:1883, mqtt://nats-2:1883,mqtt://nats-3:1883";
    assert.equal(readConfig({ PIFOG_MQTT_URL: nodes }, CWD).mqttUrl, nodes);
    for (const bad of ["mqtt://nats-1:1883,http://nats-2:1883", "mqtt://nats-1:1883,nats-2:1883"]) {
      configError({ PIFOG_MQTT_URL: bad }, "PIFOG_MQTT_URL", bad.split(",")[1]);
    }
  });

  it("a bad hardware setting is a ConfigError naming the variable", () => {
    configError({ PIFOG_HARDWARE: "gpio" }, "PIFOG_HARDWARE", "gpio");
  });
});
