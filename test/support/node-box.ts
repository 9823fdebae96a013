// Where a node of a flow file sits in the Node-RED editor, sized as the editor sizes it (editor-client's view.js,
// calculateNodeDimensions): width max(100, 20·ceil((label width + 50 + 7 for an input) / 20)), height
// max(30, 15 per output) (30 × 30 for a node that hides its label, as link nodes do), the label at 14px in the
// editor's sans-serif: "Helvetica Neue", Arial, or (Debian, these machines) DejaVu Sans, the wider of Arial's and
// DejaVu Sans' advance widths, so a layout that fits here fits on any of them (a character outside ASCII counts one em). x and y are the node's centre; inject's button sticks out 20 px to the left,
// debug's to the right. A group's box is its nodes' boxes and 26 px around them, as the editor draws it.

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  g?: string;
  x?: number;
  y?: number;
  w?: number;
  h?: number;
  name?: string;
  outputs?: number;
  /** Whether the label shows; link nodes hide theirs unless set. */
  l?: boolean;
  wires?: string[][];
  nodes?: string[];
  info?: string;
  /** inject: a repeat or a schedule adds "\t↻" to the label, firing once " ¹". */
  repeat?: string | number;
  crontab?: string;
  once?: boolean;
}

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

const FONT_PX = 14;
// Arial's advance widths in 1/1000 em for ' ' (32) to '~' (126)
const ARIAL = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556, 556,
  556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
  667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556,
  556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
// DejaVu Sans', the same characters
const DEJAVU = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636, 636,
  636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
  603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
  634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];
export const BUTTON_SIDE: Readonly<Record<string, "left" | "right">> = { inject: "left", debug: "right" };
const BUTTON_PX = 20;
export const GROUP_MARGIN = 26;

function widthIn(font: readonly number[], text: string): number {
  let em = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    em += code >= 32 && code <= 126 ? font[code - 32]! : 1000;
  }
  return Math.ceil((em * FONT_PX) / 1000);
}

/** The label's width in px, in the wider of the editor's usual fonts. */
export function textWidth(text: string): number {
  return Math.max(widthIn(ARIAL, text), widthIn(DEJAVU, text));
}

/** The node's label as the editor shows it: its name (every shipped node on a canvas has one), else its type. */
export function labelOf(node: FlowNode): string {
  const label = node.name && node.name.trim() !== "" ? node.name : node.type;
  if (node.type !== "inject") return label;
  if ((node.repeat && Number(node.repeat) !== 0) || node.crontab) return `${label}\t↻`;
  return node.once ? `${label} ¹` : label;
}

export function nodeSize(node: FlowNode): { w: number; h: number } {
  const outputs = node.outputs ?? node.wires?.length ?? 0;
  const hideLabel = node.l !== undefined ? !node.l : node.type === "link in" || node.type === "link out";
  if (hideLabel) return { w: 30, h: Math.max(30, outputs * 15) };
  return {
    w: Math.max(100, 20 * Math.ceil((textWidth(labelOf(node)) + 50 + 7) / 20)),
    h: Math.max(30, outputs * 15),
  };
}

/** The node's box on the canvas, its button included. */
export function nodeBox(node: FlowNode): Box {
  const { w, h } = nodeSize(node);
  const x = node.x ?? 0;
  const y = node.y ?? 0;
  const side = BUTTON_SIDE[node.type];
  return {
    left: x - w / 2 - (side === "left" ? BUTTON_PX : 0),
    right: x + w / 2 + (side === "right" ? BUTTON_PX : 0),
    top: y - h / 2,
    bottom: y + h / 2,
  };
}

/** The box the editor draws around these nodes as a group. */
export function groupBoxAround(nodes: FlowNode[]): Box {
  const boxes = nodes.map(nodeBox);
  return {
    left: Math.min(...boxes.map((b) => b.left)) - GROUP_MARGIN,
    top: Math.min(...boxes.map((b) => b.top)) - GROUP_MARGIN,
    right: Math.max(...boxes.map((b) => b.right)) + GROUP_MARGIN,
    bottom: Math.max(...boxes.map((b) => b.bottom)) + GROUP_MARGIN,
  };
}

/** A group's box as stored in the flow file. */
export function groupBox(group: FlowNode): Box {
  const left = group.x ?? 0;
  const top = group.y ?? 0;
  return { left, top, right: left + (group.w ?? 0), bottom: top + (group.h ?? 0) };
}

export function overlaps(a: Box, b: Box): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

export function inside(inner: Box, outer: Box): boolean {
  return inner.left >= outer.left && inner.right <= outer.right && inner.top >= outer.top && inner.bottom <= outer.bottom;
}

/** Nodes drawn on a tab's canvas (config nodes and dashboard tabs/groups have no position; groups are boxes). */
export function isOnCanvas(node: FlowNode): boolean {
  return node.type !== "tab" && node.type !== "group" && typeof node.x === "number" && typeof node.y === "number";
}
