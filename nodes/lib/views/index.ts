// What the shipped flows' function nodes use, as `global.get("pifog")` (settings.ts puts it in
// functionGlobalContext): the contract's topic builders, so no function node builds a topic by hand, and the
// dashboard views, so what stays in a function node is the glue a reader takes in at a glance. Everything here is
// a pure function or constant data (or, for `history`, what the runtime lends): the state stays in each node's context.
import { cameraTopics, powerTopics, topics } from "../contract";
import { updateMotionNotices } from "./cameras";
import { alertAck, alertsModel, updateAlertsView } from "./alerts";
import { updateDoorsView } from "./doors";
import { espeasyReadings } from "./espeasy";
import { faceFile } from "./face-files";
import { frontDoorCommand, updateFrontDoorView } from "./front-door";
import { powerModel, updatePowerView } from "./power";
import { chartData, chartRequests, latestReadings } from "./readings";
import { slackDoorReply, slackOpenDoor, slackTakePicture, slackVisitor } from "./slack";
import { simulatorInput, simulatorModel, updateSimulatorView } from "./simulator";

/** What the runtime lends its flows' function nodes. */
export interface FunctionContextParts {
  /** Headers that let the flows' own HTTP requests read the runtime's history API (a short-lived viewer token). */
  historyHeaders: () => Record<string, string>;
}

export function functionContext(parts: FunctionContextParts) {
  return Object.freeze({
    topics,
    history: Object.freeze({ headers: parts.historyHeaders }),
    powerTopics,
    cameraTopics,
    views: Object.freeze({
      doors: Object.freeze({ update: updateDoorsView }),
      simulator: Object.freeze({ update: updateSimulatorView, model: simulatorModel, input: simulatorInput }),
      frontDoor: Object.freeze({ update: updateFrontDoorView, command: frontDoorCommand }),
      slack: Object.freeze({ openDoor: slackOpenDoor, takePicture: slackTakePicture, reply: slackDoorReply, visitor: slackVisitor }),
      power: Object.freeze({ update: updatePowerView, model: powerModel }),
      readings: Object.freeze({ latest: latestReadings, chartRequests, chart: chartData }),
      alerts: Object.freeze({ update: updateAlertsView, model: alertsModel, ack: alertAck }),
      espeasy: Object.freeze({ readings: espeasyReadings }),
      faceFile,
      cameras: Object.freeze({ notices: updateMotionNotices }),
    }),
  });
}

/** The object function nodes get from `global.get("pifog")`. */
export type FunctionContext = ReturnType<typeof functionContext>;
