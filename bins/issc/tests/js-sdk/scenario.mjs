// Drives `issc serve --store`'s Azure-Face-compatible API with Microsoft's official JavaScript SDK
// (@azure-rest/ai-vision-face, pinned in package-lock.json; `npm ci` in this folder installs it).
//
//   AZURE_FACE_ENDPOINT=http://127.0.0.1:PORT AZURE_FACE_KEY=KEY ISSC_PHOTOS=../shared/data/identity/public \
//     node scenario.mjs
//
// The scenario follows the SDK README's examples as written (client with AzureKeyCredential, detect, a large person
// group with persons and faces, training through getLongRunningPoller, identify, delete) and adds verify, find
// similar (a large face list and a face list) and group, on real photos: ISSC_JS_PERSONS (default three people of
// identity/public), the first ENROLLED photos of each enrolled, the next one held out as the query. Every answer is
// checked. The last line on stdout is a JSON summary; any failure prints a summary with "ok": false, the step and
// what went wrong, and exits 1.
//
// Test peer only: bins/issc/tests/face_api_js.rs runs this file.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AzureKeyCredential } from "@azure/core-auth";
import FaceClient, { getLongRunningPoller, isUnexpected } from "@azure-rest/ai-vision-face";

const sdkVersion = JSON.parse(
  readFileSync(new URL("./node_modules/@azure-rest/ai-vision-face/package.json", import.meta.url)),
).version;
const endpoint = required("AZURE_FACE_ENDPOINT");
const apikey = required("AZURE_FACE_KEY");
const photosDir = required("ISSC_PHOTOS");
const PERSONS = (process.env.ISSC_JS_PERSONS || "Angelina_Jolie,Jennifer_Aniston,Mark_Zuckerberg").split(",");
const ENROLLED = 3;
// The v1.2 spec's mask types.
const MASK_TYPES = ["faceMask", "noMask", "otherMaskOrOcclusion", "uncertain"];
// The v1.2 spec's FaceLandmarks, all required.
const LANDMARKS_27 = [
  "pupilLeft", "pupilRight", "noseTip", "mouthLeft", "mouthRight", "eyebrowLeftOuter", "eyebrowLeftInner",
    "eyeLeftOuter", "eyeLeftTop", "eyeLeftBottom", "eyeLeftInner", "eyebrowRightInner", "eyebrowRightOuter",
    "eyeRightInner", "eyeRightTop", "eyeRightBottom", "eyeRightOuter", "noseRootLeft", "noseRootRight",
    "noseLeftAlarTop", "noseRightAlarTop", "noseLeftAlarOutTip", "noseRightAlarOutTip", "upperLipTop",
    "upperLipBottom", "underLipTop", "underLipBottom",
];
// Training a dozen faces on a local server: the poller (Retry-After: 1 s) must be done well within this.
const TRAINING_LIMIT_MS = 30_000;
const QUALITY = ["low", "medium", "high"];

// The one departure from the README: the SDK refuses to send a key over plain http unless told to, and the test
// server listens on http://127.0.0.1.
const clientOptions = endpoint.startsWith("http://") ? { allowInsecureConnection: true } : {};

const started = Date.now();
const summary = { ok: false, sdk: `@azure-rest/ai-vision-face@${sdkVersion}`, node: process.version, persons: PERSONS };
let step = "start";

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`error: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

function begin(name) {
  step = name;
  console.log(`--> ${name}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The body of a successful answer; a service error is thrown with its status, code and message. */
function ok(response, what, status = "200") {
  if (isUnexpected(response) || response.status !== status) {
    const e = response.body?.error;
    throw new Error(
      `${what}: expected ${status}, got ${response.status} ${e ? `${e.code}: ${e.message}` : JSON.stringify(response.body)}`,
    );
  }
  return response.body;
}

/** Asserts the answer is the service error `status` / `code`; returns it. */
function refused(response, status, code, what) {
  const e = response.body?.error;
  check(
    response.status === status && e?.code === code && typeof e.message === "string" && e.message.length > 0,
    `${what}: expected ${status} ${code} with a message, got ${response.status} ${JSON.stringify(response.body)}`,
  );
  return { status: response.status, code: e.code, message: e.message };
}

function photosOf(person) {
  const dir = join(photosDir, person);
  const files = readdirSync(dir)
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort()
    .map((f) => join(dir, f));
  check(files.length > ENROLLED, `${dir}: ${files.length} photos, need more than ${ENROLLED}`);
  return files;
}

const area = (f) => f.faceRectangle.width * f.faceRectangle.height;

/** Detects the faces of a photo; returns the clearly largest one and how many there were. */
async function detectMain(client, path, returnFaceId) {
  const body = ok(
    await client.path("/detect").post({
      contentType: "application/octet-stream",
      queryParameters: { detectionModel: "detection_03", recognitionModel: "recognition_04", returnFaceId },
      body: readFileSync(path),
    }),
    `detect ${path}`,
  );
  check(Array.isArray(body) && body.length > 0, `detect ${path}: no face: ${JSON.stringify(body)}`);
  const faces = [...body].sort((a, b) => area(b) - area(a));
  check(faces.length === 1 || area(faces[0]) >= 2 * area(faces[1]), `detect ${path}: no clearly largest face`);
  if (returnFaceId) check(typeof faces[0].faceId === "string", `detect ${path}: no faceId with returnFaceId=true`);
  return { face: faces[0], count: faces.length };
}

/** Adds the main face of `path` to a collection (`route` is the persistedfaces path); targetFace when needed. */
async function addFace(client, pathArgs, path, userData) {
  const { face, count } = await detectMain(client, path, false);
  const queryParameters = { userData, detectionModel: "detection_03" };
  if (count > 1) {
    const r = face.faceRectangle;
    queryParameters.targetFace = [r.left, r.top, r.width, r.height];
  }
  const added = ok(
    await client.path(...pathArgs).post({
      queryParameters,
      contentType: "application/octet-stream",
      body: readFileSync(path),
    }),
    `add ${path} to ${pathArgs.slice(1).join("/")}`,
  );
  check(typeof added.persistedFaceId === "string", `add ${path}: no persistedFaceId: ${JSON.stringify(added)}`);
  return added.persistedFaceId;
}

/** The README's training: POST .../train, then getLongRunningPoller(...).pollUntilDone(). */
async function train(client, trainPath, id) {
  const t = Date.now();
  const trainResponse = await client.path(trainPath, id).post();
  ok(trainResponse, `train ${id}`, "202");
  const location = trainResponse.headers["operation-location"];
  check(
    typeof location === "string" && location.startsWith(`${endpoint}/face/v1.2/operations/`),
    `train ${id}: Operation-Location ${JSON.stringify(location)}`,
  );
  const trainPoller = await getLongRunningPoller(client, trainResponse);
  await trainPoller.pollUntilDone();
  const state = trainPoller.getOperationState();
  check(state.status === "succeeded", `training ${id}: poller ended in ${JSON.stringify(state)}`);
  const ms = Date.now() - t;
  check(ms < TRAINING_LIMIT_MS, `training ${id} took ${ms} ms`);
  return { status: state.status, ms };
}

async function main() {
  begin("create the client (README: AzureKeyCredential)");
  const credential = new AzureKeyCredential(apikey);
  const client = FaceClient(endpoint, credential, clientOptions);

  const people = Object.fromEntries(PERSONS.map((p) => [p, photosOf(p)]));
  const enrolled = Object.fromEntries(PERSONS.map((p) => [p, people[p].slice(0, ENROLLED)]));
  const heldOut = Object.fromEntries(PERSONS.map((p) => [p, people[p][ENROLLED]]));
  const first = enrolled[PERSONS[0]][0];

  // README "Face Detection", as written: headPose, mask and qualityForRecognition on detection_03, 27 landmarks.
  begin("README detect (headPose, mask, qualityForRecognition)");
  const query = {
    detectionModel: "detection_03",
    recognitionModel: "recognition_04",
    returnFaceLandmarks: true,
    returnRecognitionModel: true,
    faceIdTimeToLive: 120,
    returnFaceAttributes: ["headPose", "mask", "qualityForRecognition"],
    returnFaceId: false,
  };
  const detected = ok(
    await client.path("/detect").post({
      contentType: "application/octet-stream",
      queryParameters: query,
      body: readFileSync(first),
    }),
    "README detect",
  );
  check(Array.isArray(detected) && detected.length > 0, `detect: no face: ${JSON.stringify(detected)}`);
  for (const f of detected) {
    const r = f.faceRectangle;
    check(r && [r.top, r.left, r.width, r.height].every(Number.isInteger) && r.width > 0, `faceRectangle ${JSON.stringify(r)}`);
    check(f.faceId === undefined, `faceId returned with returnFaceId=false: ${JSON.stringify(f)}`);
    const lm = f.faceLandmarks ?? {};
    for (const k of LANDMARKS_27) {
      check(Number.isFinite(lm[k]?.x) && Number.isFinite(lm[k]?.y), `landmark ${k}: ${JSON.stringify(lm[k])}`);
    }
    check(Object.keys(lm).length === 27, `landmarks beyond the spec's 27: ${Object.keys(lm)}`);
    check(lm.eyeLeftOuter?.x < lm.eyeLeftInner?.x && lm.eyeRightInner?.x < lm.eyeRightOuter?.x, `eye corners ${JSON.stringify(lm)}`);
    const a = f.faceAttributes ?? {};
    const hp = a.headPose;
    check(hp && ["yaw", "pitch", "roll"].every((k) => Number.isFinite(hp[k]) && Math.abs(hp[k]) <= 180), `headPose ${JSON.stringify(hp)}`);
    check(QUALITY.includes(a.qualityForRecognition), `qualityForRecognition ${JSON.stringify(a.qualityForRecognition)}`);
    check(MASK_TYPES.includes(a.mask?.type) && typeof a.mask?.noseAndMouthCovered === "boolean", `mask ${JSON.stringify(a.mask)}`);
    check(a.mask?.type === "noMask" && a.mask?.noseAndMouthCovered === false, `a bare face: ${JSON.stringify(a.mask)}`);
    const extra = Object.keys(a).filter((k) => !["headPose", "mask", "qualityForRecognition"].includes(k));
    check(extra.length === 0, `attributes not asked for: ${extra}`);
  }
  const main = [...detected].sort((a, b) => area(b) - area(a))[0];
  summary.detect = {
    photo: first.slice(photosDir.length + 1),
    faces: detected.length,
    landmarks: Object.keys(main.faceLandmarks).length,
    headPose: main.faceAttributes.headPose,
    qualityForRecognition: main.faceAttributes.qualityForRecognition,
    mask: main.faceAttributes.mask,
  };

  // README "Face Recognition from LargePersonGroup".
  const largePersonGroupId = "lpg_family";
  begin(`create the large person group ${largePersonGroupId}`);
  ok(
    await client.path("/largepersongroups/{largePersonGroupId}", largePersonGroupId).put({
      body: { name: "My Family", userData: "face_api_js", recognitionModel: "recognition_04" },
    }),
    "create the large person group",
  );
  const group = ok(
    await client
      .path("/largepersongroups/{largePersonGroupId}", largePersonGroupId)
      .get({ queryParameters: { returnRecognitionModel: true } }),
    "get the large person group",
  );
  check(
    group.largePersonGroupId === largePersonGroupId && group.name === "My Family" && group.recognitionModel === "recognition_04",
    `get group: ${JSON.stringify(group)}`,
  );
  refused(
    await client.path("/largepersongroups/{largePersonGroupId}", largePersonGroupId).put({ body: { name: "again" } }),
    "409",
    "LargePersonGroupExists",
    "create the group twice",
  );

  begin("add persons and their faces");
  const personIds = {};
  const faceOwner = {};
  for (const [i, name] of PERSONS.entries()) {
    const person = ok(
      await client
        .path("/largepersongroups/{largePersonGroupId}/persons", largePersonGroupId)
        .post({ body: { name, userData: `person ${i}` } }),
      `create person ${name}`,
    );
    check(typeof person.personId === "string", `create person ${name}: ${JSON.stringify(person)}`);
    personIds[name] = person.personId;
    for (const [j, path] of enrolled[name].entries()) {
      const route = ["/largepersongroups/{largePersonGroupId}/persons/{personId}/persistedfaces", largePersonGroupId, person.personId];
      faceOwner[await addFace(client, route, path, `${name}-${String(j + 1).padStart(4, "0")}`)] = name;
    }
    const got = ok(
      await client
        .path("/largepersongroups/{largePersonGroupId}/persons/{personId}", largePersonGroupId, person.personId)
        .get(),
      `get person ${name}`,
    );
    const mine = Object.keys(faceOwner).filter((f) => faceOwner[f] === name).sort();
    check(
      got.name === name && JSON.stringify([...(got.persistedFaceIds ?? [])].sort()) === JSON.stringify(mine),
      `person ${name}: ${JSON.stringify(got)}, expected faces ${mine}`,
    );
  }
  const persons = ok(
    await client.path("/largepersongroups/{largePersonGroupId}/persons", largePersonGroupId).get(),
    "list persons",
  );
  check(
    JSON.stringify(persons.map((p) => p.name).sort()) === JSON.stringify([...PERSONS].sort()),
    `list persons: ${JSON.stringify(persons)}`,
  );
  summary.enrolledFaces = Object.keys(faceOwner).length;

  begin("README training through getLongRunningPoller");
  summary.training = {};
  const lpgTraining = await train(client, "/largepersongroups/{largePersonGroupId}/train", largePersonGroupId);
  summary.training.largePersonGroup = lpgTraining.status;
  summary.training.largePersonGroupMs = lpgTraining.ms;
  const status = ok(
    await client.path("/largepersongroups/{largePersonGroupId}/training", largePersonGroupId).get(),
    "training status",
  );
  check(status.status === "succeeded", `training status: ${JSON.stringify(status)}`);

  begin("README identify");
  summary.identified = {};
  const query_ = {};
  for (const name of PERSONS) {
    const detectResponse = await client.path("/detect").post({
      contentType: "application/octet-stream",
      queryParameters: { detectionModel: "detection_03", recognitionModel: "recognition_04", returnFaceId: true },
      body: readFileSync(heldOut[name]),
    });
    const faces = ok(detectResponse, `detect ${heldOut[name]}`);
    const faceIds = faces.map((face) => face.faceId);
    check(faceIds.length > 0 && faceIds.every((f) => typeof f === "string"), `faceIds: ${JSON.stringify(faces)}`);
    const mainId = [...faces].sort((a, b) => area(b) - area(a))[0].faceId;
    query_[name] = mainId;
    const identified = ok(
      await client.path("/identify").post({ body: { faceIds, largePersonGroupId } }),
      `identify ${name}`,
    );
    check(identified.length === faceIds.length, `identify ${name}: ${JSON.stringify(identified)}`);
    const result = identified.find((r) => r.faceId === mainId);
    const best = result?.candidates?.[0];
    check(best && best.personId === personIds[name], `identify ${name}: ${JSON.stringify(identified)}`);
    check(best.confidence > 0 && best.confidence <= 1, `identify ${name}: confidence ${best.confidence}`);
    summary.identified[name] = Number(best.confidence.toFixed(4));
  }

  begin("verify (face to face, face to person)");
  const [a, b] = PERSONS;
  const other = (await detectMain(client, enrolled[a][1], true)).face.faceId;
  const sameFaces = ok(await client.path("/verify").post({ body: { faceId1: query_[a], faceId2: other } }), "verify same");
  const diffFaces = ok(await client.path("/verify").post({ body: { faceId1: query_[a], faceId2: query_[b] } }), "verify other");
  check(sameFaces.isIdentical === true, `${a} vs ${a}: ${JSON.stringify(sameFaces)}`);
  check(diffFaces.isIdentical === false && diffFaces.confidence < sameFaces.confidence, `${a} vs ${b}: ${JSON.stringify(diffFaces)}`);
  const toPerson = (faceId, personId) =>
    client.path("/verify").post({ body: { faceId, personId, largePersonGroupId } });
  const samePerson = ok(await toPerson(query_[a], personIds[a]), "verify face to person");
  const otherPerson = ok(await toPerson(query_[a], personIds[b]), "verify face to other person");
  check(samePerson.isIdentical === true, `${a}'s face vs person ${a}: ${JSON.stringify(samePerson)}`);
  check(otherPerson.isIdentical === false, `${a}'s face vs person ${b}: ${JSON.stringify(otherPerson)}`);
  summary.verify = {
    sameFace: sameFaces.confidence,
    otherFace: diffFaces.confidence,
    samePerson: samePerson.confidence,
    otherPerson: otherPerson.confidence,
  };

  begin("find similar (large face list, trained by the poller; face list)");
  const largeFaceListId = "lfl_family";
  const faceListId = "fl_family";
  ok(
    await client.path("/largefacelists/{largeFaceListId}", largeFaceListId).put({
      body: { name: "Family faces", recognitionModel: "recognition_04" },
    }),
    "create the large face list",
  );
  ok(
    await client.path("/facelists/{faceListId}", faceListId).put({
      body: { name: "Family faces (small)", recognitionModel: "recognition_04" },
    }),
    "create the face list",
  );
  const listOwner = {};
  for (const name of PERSONS) {
    for (const path of enrolled[name]) {
      listOwner[await addFace(client, ["/largefacelists/{largeFaceListId}/persistedfaces", largeFaceListId], path, name)] = name;
      listOwner[await addFace(client, ["/facelists/{faceListId}/persistedfaces", faceListId], path, name)] = name;
    }
  }
  const lflTraining = await train(client, "/largefacelists/{largeFaceListId}/train", largeFaceListId);
  summary.training.largeFaceList = lflTraining.status;
  summary.training.largeFaceListMs = lflTraining.ms;
  summary.findSimilar = {};
  for (const name of PERSONS) {
    for (const [where, body] of [
      ["largeFaceList", { largeFaceListId }],
      ["faceList", { faceListId }],
    ]) {
      const found = ok(
        await client.path("/findsimilars").post({
          body: { faceId: query_[name], maxNumOfCandidatesReturned: 3, mode: "matchFace", ...body },
        }),
        `find similar ${name} in the ${where}`,
      );
      check(found.length > 0 && found.length <= 3, `find similar ${name} (${where}): ${JSON.stringify(found)}`);
      check(listOwner[found[0].persistedFaceId] === name, `find similar ${name} (${where}): best ${JSON.stringify(found)}`);
      check(found.every((f, i) => i === 0 || found[i - 1].confidence >= f.confidence), `not sorted: ${JSON.stringify(found)}`);
      summary.findSimilar[`${name} in ${where}`] = Number(found[0].confidence.toFixed(4));
    }
  }

  begin("group");
  const owner = {};
  const second = {};
  for (const name of PERSONS) {
    owner[query_[name]] = name;
    const id = (await detectMain(client, enrolled[name][0], true)).face.faceId;
    owner[id] = name;
    second[name] = id;
  }
  const faceIds = Object.keys(owner);
  const grouping = ok(await client.path("/group").post({ body: { faceIds } }), "group");
  const placed = [...grouping.groups.flat(), ...grouping.messyGroup].sort();
  check(JSON.stringify(placed) === JSON.stringify([...faceIds].sort()), `every face exactly once: ${JSON.stringify(grouping)}`);
  for (const g of grouping.groups) {
    check(new Set(g.map((f) => owner[f])).size === 1, `a group mixes persons: ${JSON.stringify(g.map((f) => owner[f]))}`);
  }
  for (const name of PERSONS) {
    check(
      grouping.groups.some((g) => g.includes(query_[name]) && g.includes(second[name])),
      `the two faces of ${name} are not grouped together: ${JSON.stringify(grouping)}`,
    );
  }
  summary.group = { groups: grouping.groups.length, messyGroup: grouping.messyGroup.length };

  begin("errors (404 with its code, 401 for a wrong key)");
  summary.errors = {};
  summary.errors.missingGroup = refused(
    await client.path("/largepersongroups/{largePersonGroupId}", "missing-group").get(),
    "404",
    "LargePersonGroupNotFound",
    "get a missing group",
  ).code;
  const wrong = FaceClient(endpoint, new AzureKeyCredential("not-the-key"), clientOptions);
  const denied = await wrong.path("/largepersongroups/{largePersonGroupId}", largePersonGroupId).get();
  check(denied.status === "401", `wrong key: ${denied.status} ${JSON.stringify(denied.body)}`);
  summary.errors.wrongKey = denied.status;

  begin("README delete");
  ok(await client.path("/largepersongroups/{largePersonGroupId}", largePersonGroupId).delete(), "delete the group");
  ok(await client.path("/largefacelists/{largeFaceListId}", largeFaceListId).delete(), "delete the large face list");
  ok(await client.path("/facelists/{faceListId}", faceListId).delete(), "delete the face list");
  refused(
    await client.path("/largepersongroups/{largePersonGroupId}", largePersonGroupId).get(),
    "404",
    "LargePersonGroupNotFound",
    "get the deleted group",
  );
}

try {
  await main();
  summary.ok = true;
} catch (e) {
  summary.failedStep = step;
  summary.error = String(e?.stack ?? e);
  process.exitCode = 1;
}
summary.seconds = Number(((Date.now() - started) / 1000).toFixed(1));
console.log(JSON.stringify(summary));
