import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { findPiGpioChip, listGpioChips, sysfsLineNumber } from "../../nodes/lib/drivers/pi/gpio-chip";

interface FakeChip {
  label: string;
  base: number;
  ngpio: number;
}

/** A fake /sys/class/gpio: one gpiochipN directory per chip with label, base and ngpio, plus export/unexport. */
function fakeSysfs(chips: FakeChip[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "pifog-unit-sysfs-"));
  fs.writeFileSync(path.join(root, "export"), "");
  fs.writeFileSync(path.join(root, "unexport"), "");
  for (const c of chips) {
    const dir = path.join(root, `gpiochip${c.base}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "label"), `${c.label}\n`);
    fs.writeFileSync(path.join(dir, "base"), `${c.base}\n`);
    fs.writeFileSync(path.join(dir, "ngpio"), `${c.ngpio}\n`);
  }
  return root;
}

// What `ls /sys/class/gpio` and each chip's label/base/ngpio show on real boards.
const PI4_KERNEL_6_6: FakeChip[] = [
  { label: "pinctrl-bcm2711", base: 512, ngpio: 58 },
  { label: "raspberrypi-exp-gpio", base: 570, ngpio: 8 },
];
const PI5_KERNEL_6_6: FakeChip[] = [
  { label: "gpio-brcmstb@107d508500", base: 512, ngpio: 32 },
  { label: "gpio-brcmstb@107d508520", base: 544, ngpio: 4 },
  { label: "gpio-brcmstb@107d517c00", base: 548, ngpio: 17 },
  { label: "gpio-brcmstb@107d517c20", base: 565, ngpio: 6 },
  { label: "pinctrl-rp1", base: 571, ngpio: 54 },
];
const PI3_OLD_KERNEL: FakeChip[] = [
  { label: "pinctrl-bcm2835", base: 0, ngpio: 54 },
  { label: "raspberrypi-exp-gpio", base: 504, ngpio: 8 },
];

describe("gpio-chip: the sysfs number of a BCM line", () => {
  const roots: string[] = [];
  const tree = (chips: FakeChip[]) => {
    const root = fakeSysfs(chips);
    roots.push(root);
    return root;
  };
  after(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  it("Pi 4 on kernel 6.6+: GPIO 17 is 529 (pinctrl-bcm2711 at base 512), not the expander's", () => {
    const root = tree(PI4_KERNEL_6_6);
    assert.equal(sysfsLineNumber(17, root), 529);
    assert.equal(sysfsLineNumber(0, root), 512);
    assert.equal(sysfsLineNumber(27, root), 539);
    assert.equal(findPiGpioChip(root).chip, "gpiochip512");
  });

  it("Pi 5 on kernel 6.6+: GPIO 17 is 588 (pinctrl-rp1 at base 571) among the brcmstb chips", () => {
    const root = tree(PI5_KERNEL_6_6);
    assert.equal(sysfsLineNumber(17, root), 588);
    assert.equal(sysfsLineNumber(4, root), 575);
    assert.equal(findPiGpioChip(root).label, "pinctrl-rp1");
  });

  it("Pi 5 with a bcm2712 pinctrl as well still uses the RP1 header controller", () => {
    const root = tree([{ label: "pinctrl-bcm2712", base: 512, ngpio: 32 }, ...PI5_KERNEL_6_6.slice(1)]);
    assert.equal(sysfsLineNumber(17, root), 588);
  });

  it("Pi 3 on an old kernel: GPIO 17 is 17 (pinctrl-bcm2835 at base 0)", () => {
    const root = tree(PI3_OLD_KERNEL);
    assert.equal(sysfsLineNumber(17, root), 17);
    assert.equal(sysfsLineNumber(0, root), 0);
  });

  it("lists every chip with its label, base and ngpio", () => {
    const root = tree(PI4_KERNEL_6_6);
    const chips = listGpioChips(root).sort((a, b) => a.base - b.base);
    assert.deepEqual(chips, [
      { chip: "gpiochip512", label: "pinctrl-bcm2711", base: 512, ngpio: 58 },
      { chip: "gpiochip570", label: "raspberrypi-exp-gpio", base: 570, ngpio: 8 },
    ]);
  });

  it("skips a chip directory without a label", () => {
    const root = tree(PI4_KERNEL_6_6);
    fs.mkdirSync(path.join(root, "gpiochip600"));
    assert.equal(listGpioChips(root).length, 2);
    assert.equal(sysfsLineNumber(17, root), 529);
  });

  it("with no Pi chip, fails with an error that names the chips it saw", () => {
    const root = tree([
      { label: "gpio-mockup-A", base: 0, ngpio: 8 },
      { label: "INT34C6:00", base: 512, ngpio: 360 },
    ]);
    assert.throws(
      () => sysfsLineNumber(17, root),
      (err: Error) => {
        assert.match(err.message, /no Raspberry Pi GPIO controller/);
        assert.ok(err.message.includes(root), "names the directory");
        assert.ok(err.message.includes("gpiochip0=gpio-mockup-A"), err.message);
        assert.ok(err.message.includes("gpiochip512=INT34C6:00"), err.message);
        return true;
      },
    );
  });

  it("with no chips or no sysfs at all, says none were seen", () => {
    const empty = tree([]);
    assert.throws(() => sysfsLineNumber(17, empty), /chips: none/);
    assert.deepEqual(listGpioChips(path.join(empty, "missing")), []);
    assert.throws(() => sysfsLineNumber(17, path.join(empty, "missing")), /no Raspberry Pi GPIO controller.*chips: none/);
  });

  it("a line outside the controller is a RangeError", () => {
    const root = tree(PI4_KERNEL_6_6);
    for (const bad of [58, 100, -1, 1.5, Number.NaN]) {
      assert.throws(() => sysfsLineNumber(bad, root), RangeError, String(bad));
    }
    assert.throws(() => sysfsLineNumber(58, root), /GPIO 58 is not a line of pinctrl-bcm2711 \(0\.\.57\)/);
    assert.equal(sysfsLineNumber(57, root), 569, "the last line is fine");
  });
});
