// Finds the sysfs line number of a BCM GPIO. Since kernel 6.6 every gpiochip gets a base offset
// (e.g. gpiochip512 on a Pi 4, gpiochip571 on a Pi 5), so the number is the chip's `base` plus the
// BCM offset, found by the chip's label, never a hard-coded 0 or 512.
import fs from "node:fs";
import path from "node:path";

/** Labels of the Raspberry Pi header's GPIO controller, newest first. */
export const PI_GPIO_LABELS = ["pinctrl-rp1", "pinctrl-bcm2712", "pinctrl-bcm2711", "pinctrl-bcm2835"] as const;

export interface GpioChipInfo {
  chip: string;
  label: string;
  base: number;
  ngpio: number;
}

export function listGpioChips(sysfsRoot = "/sys/class/gpio"): GpioChipInfo[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(sysfsRoot);
  } catch {
    return [];
  }
  const chips: GpioChipInfo[] = [];
  for (const chip of entries.filter((e) => e.startsWith("gpiochip"))) {
    const read = (file: string) => fs.readFileSync(path.join(sysfsRoot, chip, file), "utf8").trim();
    try {
      chips.push({ chip, label: read("label"), base: Number(read("base")), ngpio: Number(read("ngpio")) });
    } catch {
      // a chip without label/base is not one we can use
    }
  }
  return chips;
}

/** The header's GPIO controller, by label. */
export function findPiGpioChip(sysfsRoot = "/sys/class/gpio"): GpioChipInfo {
  const chips = listGpioChips(sysfsRoot);
  for (const label of PI_GPIO_LABELS) {
    const chip = chips.find((c) => c.label === label);
    if (chip) return chip;
  }
  const seen = chips.map((c) => `${c.chip}=${c.label}`).join(", ") || "none";
  throw new Error(`no Raspberry Pi GPIO controller under ${sysfsRoot} (chips: ${seen})`);
}

/** The sysfs number that `onoff` must be given for BCM line `bcm`. */
export function sysfsLineNumber(bcm: number, sysfsRoot = "/sys/class/gpio"): number {
  const chip = findPiGpioChip(sysfsRoot);
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= chip.ngpio) {
    throw new RangeError(`GPIO ${bcm} is not a line of ${chip.label} (0..${chip.ngpio - 1})`);
  }
  return chip.base + bcm;
}
