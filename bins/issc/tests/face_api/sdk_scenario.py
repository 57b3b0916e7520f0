#!/usr/bin/env python3
"""Drives `issc serve`'s Azure-Face-compatible API with Microsoft's official Python SDK.

    python sdk_scenario.py --endpoint http://127.0.0.1:PORT --key KEY --photos examples/people

With `--endpoint` given several times (replicas of one service on one store), every request goes to the next of them
in turn, as a round-robin load balancer would send it: a pipeline policy of the SDK's own clients rewrites each
request's scheme, host and port (retries and Operation-Location polls included), so a faceId detected by one replica
is identified, verified and searched on another, and a training begun on one is polled on another. The summary then
says how many requests each replica answered and where each training was polled (`balancer`).

Needs `azure-ai-vision-face==1.0.0b2` (pip install azure-ai-vision-face==1.0.0b2). The scenario: a large person group
of four persons with three faces each, trained through the SDK's long-running-operation poller; the held-out photo of
each person detected, identified, verified (face to person, face to face); a large face list trained and searched
(find similar); grouping; the error mapping (404 with its error code, 401 for a wrong key); deletion. Every result is
checked. The last line on stdout is a JSON summary; any failure exits 1 with the step and what went wrong.

Python is a test peer only: this file is run by bins/issc/tests/face_api_peers.rs.
"""

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

try:
    from azure.ai.vision.face import FaceAdministrationClient, FaceClient
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
    from azure.core.pipeline.policies import SansIOHTTPPolicy
except ImportError as e:  # pragma: no cover - the Rust test checks the import before running this
    print(f"error: the Azure Face SDK is not installed ({e}); pip install azure-ai-vision-face==1.0.0b2",
          file=sys.stderr)
    sys.exit(2)

API_VERSION = "v1.2"
PERSONS = 4
ENROLLED_PER_PERSON = 3
# The v1.2 spec's FaceLandmarks, all required.
LANDMARKS_27 = [
    "pupilLeft", "pupilRight", "noseTip", "mouthLeft", "mouthRight", "eyebrowLeftOuter", "eyebrowLeftInner",
    "eyeLeftOuter", "eyeLeftTop", "eyeLeftBottom", "eyeLeftInner", "eyebrowRightInner", "eyebrowRightOuter",
    "eyeRightInner", "eyeRightTop", "eyeRightBottom", "eyeRightOuter", "noseRootLeft", "noseRootRight",
    "noseLeftAlarTop", "noseRightAlarTop", "noseLeftAlarOutTip", "noseRightAlarOutTip", "upperLipTop",
    "upperLipBottom", "underLipTop", "underLipBottom",
]
# The SDK polls Operation-Location and sleeps Retry-After between polls (30 s without it): training of a dozen faces
# on a local server must be over in a few seconds.
TRAINING_LIMIT_S = 10.0
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}


class ScenarioFailure(Exception):
    """A check failed: the message says what was expected and what came back."""


class Steps:
    """Names the step being run, so a failure says where it happened."""

    def __init__(self):
        self.current = "start"
        self.done = []

    def __call__(self, name):
        self.current = name
        self.done.append(name)
        print(f"--> {name}", flush=True)


def check(condition, message):
    if not condition:
        raise ScenarioFailure(message)


def error_code(e):
    """The service's error code of an azure-core HttpResponseError (from `error.code`, else from the body)."""
    err = getattr(e, "error", None)
    if err is not None and getattr(err, "code", None):
        return err.code
    try:
        return e.response.json()["error"]["code"]
    except Exception:  # noqa: BLE001 - any unparseable body means "no code"
        return None


def expect_error(step_name, exc_type, code, call):
    """Runs `call`, which must raise `exc_type` carrying error code `code` (None: any code)."""
    try:
        call()
    except exc_type as e:
        got = error_code(e)
        check(code is None or got == code,
              f"{step_name}: expected error code {code}, got {got!r} (status {e.status_code}, {e.message!r})")
        return {"status": e.status_code, "code": got}
    except HttpResponseError as e:
        raise ScenarioFailure(
            f"{step_name}: expected {exc_type.__name__} with code {code}, got {type(e).__name__} "
            f"status {e.status_code} code {error_code(e)!r}: {e.message!r}") from e
    raise ScenarioFailure(f"{step_name}: expected {exc_type.__name__} ({code}), but the call succeeded")


def people(photos):
    """The first PERSONS folders with at least ENROLLED_PER_PERSON + 1 photos: (name, [photo paths])."""
    out = []
    for d in sorted(p for p in Path(photos).iterdir() if p.is_dir()):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) > ENROLLED_PER_PERSON:
            out.append((d.name, files))
        if len(out) == PERSONS:
            break
    check(len(out) == PERSONS,
          f"{photos}: need {PERSONS} folders with > {ENROLLED_PER_PERSON} photos each, found {len(out)}")
    return out


def detect_main(face_client, path, **extra):
    """Detects the faces of a photo; returns (main face, number of faces). The main face is the largest; a photo
    may show other people in the background, but then its main face must be clearly the largest."""
    faces = face_client.detect(
        path.read_bytes(),
        detection_model="detection_03",
        recognition_model="recognition_04",
        return_face_id=True,
        **extra,
    )
    check(len(faces) >= 1, f"detect {path.name}: no face found")
    area = lambda f: f.face_rectangle.width * f.face_rectangle.height  # noqa: E731
    faces = sorted(faces, key=area, reverse=True)
    check(len(faces) == 1 or area(faces[0]) >= 2 * area(faces[1]),
          f"detect {path.name}: no clearly largest face among {[f.face_rectangle for f in faces]}")
    face = faces[0]
    check(bool(face.face_id), f"detect {path.name}: no faceId although returnFaceId=true: {face}")
    r = face.face_rectangle
    check(r.width > 0 and r.height > 0 and r.left + r.width > 0 and r.top + r.height > 0,
          f"detect {path.name}: bad rectangle {r}")
    return face, len(faces)


def add_face_options(face_client, path, user_data, force_target=False):
    """Options of an add-face call: targetFace (the main face's rectangle, as [left, top, width, height]) when the
    photo shows several faces, or when `force_target`. The rectangle goes back exactly as detect returned it: the
    service must accept its own detection as a target face."""
    options = {"detection_model": "detection_03", "user_data": user_data}
    face, count = detect_main(face_client, path)
    if count > 1 or force_target:
        r = face.face_rectangle
        options["target_face"] = [r.left, r.top, r.width, r.height]
    return options


class RoundRobin(SansIOHTTPPolicy):
    """A load balancer inside the SDK's pipeline: request i goes to endpoint i mod n (its scheme, host and port
    replaced; path and query kept). One instance is shared by every client, so consecutive requests, whichever client
    sends them, go to different endpoints. Each request is logged as (endpoint index, method, path)."""

    def __init__(self, endpoints):
        self.endpoints = [urlsplit(e) for e in endpoints]
        self.log = []

    def on_request(self, request):
        http = request.http_request
        url = urlsplit(http.url)
        i = len(self.log) % len(self.endpoints)
        target = self.endpoints[i]
        http.url = urlunsplit((target.scheme, target.netloc, url.path, url.query, url.fragment))
        if "Host" in http.headers:
            http.headers["Host"] = target.netloc
        self.log.append((i, http.method, url.path))

    def summary(self):
        """Requests per endpoint, and for each training begun: the endpoint that began it and those that polled it."""
        per = [0] * len(self.endpoints)
        for i, _, _ in self.log:
            per[i] += 1
        trainings = []
        for n, (i, method, path) in enumerate(self.log):
            if method == "POST" and path.endswith("/train"):
                polls = []
                for j, m, p in self.log[n + 1:]:
                    if m == "GET" and "/operations/" in p:
                        polls.append(j)
                    elif polls:
                        break
                trainings.append({"path": path, "began_on": i, "polled_on": polls})
        return {"endpoints": [e.geturl() for e in self.endpoints], "requests": per, "trainings": trainings}


def run(args, step, balancer):
    endpoint, key = args.endpoint[0].rstrip("/"), args.key
    credential = AzureKeyCredential(key)
    # With one endpoint the policy changes nothing; with several it spreads the requests over them.
    routed = {"custom_hook_policy": balancer}
    admin = FaceAdministrationClient(endpoint=endpoint, credential=credential, api_version=API_VERSION, **routed)
    face_client = FaceClient(endpoint=endpoint, credential=credential, api_version=API_VERSION, **routed)
    suffix = uuid.uuid4().hex[:8]
    group_id, list_id = f"sdk-group-{suffix}", f"sdk-list-{suffix}"
    lpg, lfl = admin.large_person_group, admin.large_face_list
    summary = {"endpoint": endpoint, "api_version": API_VERSION, "group": group_id, "list": list_id}
    chosen = people(args.photos)
    enrolled = {name: files[:ENROLLED_PER_PERSON] for name, files in chosen}
    held_out = {name: files[ENROLLED_PER_PERSON] for name, files in chosen}

    step("create large person group")
    lpg.create(group_id, name="SDK scenario", user_data="created by sdk_scenario.py",
               recognition_model="recognition_04")
    group = lpg.get(group_id, return_recognition_model=True)
    check(group.large_person_group_id == group_id and group.name == "SDK scenario",
          f"get group: expected id {group_id} and name 'SDK scenario', got {group}")
    check(group.user_data == "created by sdk_scenario.py", f"get group: userData not kept: {group}")
    check(group.recognition_model == "recognition_04", f"get group: recognitionModel {group.recognition_model!r}")
    listed = [g.large_person_group_id for g in admin.large_person_group.get_large_person_groups()]
    check(group_id in listed, f"list groups: {group_id} not in {listed}")
    expect_error("create the same group again", HttpResponseError, "LargePersonGroupExists",
                 lambda: lpg.create(group_id, name="again", recognition_model="recognition_04"))

    step("add persons and faces")
    person_ids, face_owner = {}, {}
    for n, (name, files) in enumerate(enrolled.items()):
        person_ids[name] = lpg.create_person(group_id, name=name, user_data=f"person {n}").person_id
        for i, path in enumerate(files):
            options = add_face_options(face_client, path, path.name, force_target=(i == 0))
            try:
                added = lpg.add_face(group_id, person_ids[name], path.read_bytes(), **options)
            except HttpResponseError as e:
                raise ScenarioFailure(f"add face {path.name} with {options}: {e.status_code} {error_code(e)}: "
                                      f"{e.message}") from e
            check(bool(added.persisted_face_id), f"add face {path.name}: no persistedFaceId: {added}")
            face_owner[added.persisted_face_id] = name
    for name, pid in person_ids.items():
        person = lpg.get_person(group_id, pid)
        check(person.name == name, f"get person {pid}: expected name {name}, got {person.name!r}")
        faces = set(person.persisted_face_ids or [])
        mine = {f for f, owner in face_owner.items() if owner == name}
        check(faces == mine, f"get person {name}: persistedFaceIds {sorted(faces)} != added {sorted(mine)}")
        for fid in mine:
            face = lpg.get_face(group_id, pid, fid)
            check(face.persisted_face_id == fid and (face.user_data or "").startswith(name),
                  f"get face {fid} of {name}: {face}")
    persons = lpg.get_persons(group_id)
    check(sorted(p.name for p in persons) == sorted(person_ids),
          f"list persons: expected {sorted(person_ids)}, got {[p.name for p in persons]}")

    step("before training")
    early = detect_main(face_client, held_out[chosen[0][0]])[0].face_id
    summary["untrained"] = {
        "training status": expect_error("training status of a never-trained group", ResourceNotFoundError,
                                        "LargePersonGroupNotTrained", lambda: lpg.get_training_status(group_id)),
        "identify": expect_error("identify against a never-trained group", HttpResponseError,
                                 "LargePersonGroupNotTrained",
                                 lambda: face_client.identify_from_large_person_group(
                                     face_ids=[early], large_person_group_id=group_id)),
    }
    check(summary["untrained"]["identify"]["status"] == 400, f"identify untrained: {summary['untrained']}")

    step("train the large person group (LRO poller)")
    start = time.monotonic()
    poller = lpg.begin_train(group_id)
    poller.result(timeout=60)
    took = time.monotonic() - start
    check(poller.done() and poller.status().lower() == "succeeded", f"train group: poller status {poller.status()!r}")
    check(took < TRAINING_LIMIT_S, f"train group: the poller took {took:.1f} s (limit {TRAINING_LIMIT_S} s); "
          "does the 202 and each running poll answer carry Retry-After: 1?")
    status = lpg.get_training_status(group_id)
    check(status.status == "succeeded", f"training status: expected succeeded, got {status}")
    summary["group_training_s"] = round(took, 2)

    step("detect the held-out photos")
    query = {}
    for name, path in held_out.items():
        face, _ = detect_main(face_client, path, return_face_landmarks=True, return_recognition_model=True,
                          face_id_time_to_live=300)
        lm = face.face_landmarks
        check(lm is not None and lm.pupil_left is not None and lm.nose_tip is not None and lm.mouth_right is not None,
              f"detect {path.name}: returnFaceLandmarks=true but landmarks are {lm}")
        r = face.face_rectangle
        check(r.left <= lm.nose_tip.x <= r.left + r.width and r.top <= lm.nose_tip.y <= r.top + r.height,
              f"detect {path.name}: noseTip {lm.nose_tip} outside the face rectangle {r}")
        check(lm.pupil_left.x < lm.pupil_right.x, f"detect {path.name}: pupilLeft is not left of pupilRight: {lm}")
        # All 27 of the spec's landmarks (its schema marks every one required).
        missing = [k for k in LANDMARKS_27 if lm.get(k) is None]
        check(not missing, f"detect {path.name}: landmarks missing: {missing}")
        check(lm.eye_left_outer.x < lm.eye_left_inner.x < lm.eye_right_inner.x < lm.eye_right_outer.x,
              f"detect {path.name}: eye corners out of order: {lm}")
        check(lm.upper_lip_top.y < lm.upper_lip_bottom.y <= lm.under_lip_top.y < lm.under_lip_bottom.y,
              f"detect {path.name}: lips out of order: {lm}")
        check(face.recognition_model == "recognition_04",
              f"detect {path.name}: recognitionModel {face.recognition_model!r}")
        query[name] = face.face_id

    step("identify")
    names = list(query)
    results = face_client.identify_from_large_person_group(
        face_ids=[query[n] for n in names], large_person_group_id=group_id, max_num_of_candidates_returned=2)
    check(len(results) == len(names), f"identify: {len(names)} faces asked, {len(results)} results")
    by_face = {r.face_id: r for r in results}
    identified = {}
    for name in names:
        r = by_face.get(query[name])
        check(r is not None, f"identify: no result for the face of {name}")
        check(len(r.candidates) >= 1, f"identify {name}: no candidate (expected {person_ids[name]})")
        best = r.candidates[0]
        check(best.person_id == person_ids[name],
              f"identify {name}: first candidate {best.person_id} (confidence {best.confidence}), expected "
              f"{person_ids[name]}; all: {[(c.person_id, c.confidence) for c in r.candidates]}")
        check(0.0 <= best.confidence <= 1.0, f"identify {name}: confidence {best.confidence} not in 0..1")
        identified[name] = round(best.confidence, 3)
    summary["identified"] = identified

    step("verify")
    a, b = names[0], names[1]
    v = face_client.verify_from_large_person_group(face_id=query[a], large_person_group_id=group_id,
                                                  person_id=person_ids[a])
    check(v.is_identical is True, f"verify {a}'s face with person {a}: expected isIdentical true, got {v}")
    v2 = face_client.verify_from_large_person_group(face_id=query[a], large_person_group_id=group_id,
                                                   person_id=person_ids[b])
    check(v2.is_identical is False, f"verify {a}'s face with person {b}: expected isIdentical false, got {v2}")
    v3 = face_client.verify_face_to_face(face_id1=query[a], face_id2=query[b])
    check(v3.is_identical is False, f"verify face to face {a} vs {b}: expected isIdentical false, got {v3}")
    check(v.confidence > v3.confidence, f"verify: same person {v.confidence} <= different persons {v3.confidence}")
    same = detect_main(face_client, enrolled[a][1])[0].face_id
    v4 = face_client.verify_face_to_face(face_id1=query[a], face_id2=same)
    check(v4.is_identical is True, f"verify face to face {a} vs {a}: expected isIdentical true, got {v4}")
    summary["verify"] = {"same_person": v.confidence, "other_person": v2.confidence,
                         "face_to_face_other": v3.confidence,
                         "face_to_face_same": v4.confidence}

    step("large face list")
    lfl.create(list_id, name="SDK list", recognition_model="recognition_04")
    got = lfl.get(list_id, return_recognition_model=True)
    check(got.large_face_list_id == list_id and got.recognition_model == "recognition_04", f"get list: {got}")
    list_owner = {}
    for name, files in enrolled.items():
        for path in files:
            added = lfl.add_face(list_id, path.read_bytes(), **add_face_options(face_client, path, name))
            list_owner[added.persisted_face_id] = name
    faces = lfl.get_faces(list_id)
    check({f.persisted_face_id for f in faces} == set(list_owner),
          f"list faces: expected {len(list_owner)} faces, got {[f.persisted_face_id for f in faces]}")
    start = time.monotonic()
    lfl.begin_train(list_id).result(timeout=60)
    took = time.monotonic() - start
    check(took < TRAINING_LIMIT_S, f"train list: the poller took {took:.1f} s (limit {TRAINING_LIMIT_S} s)")
    summary["list_training_s"] = round(took, 2)
    similar = {}
    for name in names:
        found = face_client.find_similar_from_large_face_list(
            face_id=query[name], large_face_list_id=list_id, max_num_of_candidates_returned=3, mode="matchFace")
        check(len(found) >= 1, f"find similar {name}: nothing found")
        best = found[0]
        check(list_owner.get(best.persisted_face_id) == name,
              f"find similar {name}: best match {best.persisted_face_id} belongs to "
              f"{list_owner.get(best.persisted_face_id)!r} (confidence {best.confidence})")
        confidences = [f.confidence for f in found]
        check(confidences == sorted(confidences, reverse=True), f"find similar {name}: not sorted: {confidences}")
        similar[name] = round(best.confidence, 3)
    summary["find_similar"] = similar

    step("group")
    second = {name: detect_main(face_client, enrolled[name][0])[0].face_id for name in names}
    owner = {query[n]: n for n in names} | {second[n]: n for n in names}
    grouping = face_client.group(face_ids=list(owner))
    placed = [fid for g in grouping.groups for fid in g] + list(grouping.messy_group)
    check(sorted(placed) == sorted(owner), f"group: every face exactly once expected, got {grouping}")
    for g in grouping.groups:
        check(len({owner[f] for f in g}) == 1, f"group: a group mixes persons: {[owner[f] for f in g]}")
    for name in names:
        together = any(query[name] in g and second[name] in g for g in grouping.groups)
        check(together, f"group: the two faces of {name} are not in one group: {grouping}")
    summary["groups"] = len(grouping.groups)

    step("errors")
    summary["errors"] = {
        "missing group": expect_error("get a missing group", ResourceNotFoundError, "LargePersonGroupNotFound",
                                      lambda: lpg.get(f"missing-{suffix}")),
        "missing person": expect_error("get a missing person", ResourceNotFoundError, "PersonNotFound",
                                       lambda: lpg.get_person(group_id, str(uuid.uuid4()))),
        "missing list": expect_error("get a missing list", ResourceNotFoundError, "LargeFaceListNotFound",
                                     lambda: lfl.get(f"missing-{suffix}")),
    }
    wrong = FaceAdministrationClient(endpoint=endpoint, credential=AzureKeyCredential("not-the-key-" + suffix),
                                     api_version=API_VERSION, **routed)
    summary["errors"]["wrong key"] = expect_error("wrong key", ClientAuthenticationError, None,
                                                  lambda: wrong.large_person_group.get(group_id))
    check(summary["errors"]["wrong key"]["status"] == 401, f"wrong key: status {summary['errors']['wrong key']}")

    step("delete")
    lpg.delete(group_id)
    lfl.delete(list_id)
    expect_error("get the deleted group", ResourceNotFoundError, "LargePersonGroupNotFound", lambda: lpg.get(group_id))
    expect_error("get the deleted list", ResourceNotFoundError, "LargeFaceListNotFound", lambda: lfl.get(list_id))
    listed = [g.large_person_group_id for g in lpg.get_large_person_groups()]
    check(group_id not in listed, f"list groups after delete: {group_id} still listed")
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, action="append",
                        help="e.g. http://127.0.0.1:8080; several: each request goes to the next in turn")
    parser.add_argument("--key", required=True, help="an API key the server accepts")
    parser.add_argument("--photos", required=True, help="folder of <Person_Name>/*.jpg")
    args = parser.parse_args()
    step = Steps()
    balancer = RoundRobin([e.rstrip("/") for e in args.endpoint])
    started = time.monotonic()
    try:
        summary = run(args, step, balancer)
    except ScenarioFailure as e:
        print(f"FAILED at step '{step.current}': {e}", file=sys.stderr)
        return 1
    except HttpResponseError as e:
        print(f"FAILED at step '{step.current}': the service answered {e.status_code} "
              f"{error_code(e)!r}: {e.message}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - any other error is a failure of this step too
        print(f"FAILED at step '{step.current}': {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    summary["steps"] = step.done
    summary["balancer"] = balancer.summary()
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["ok"] = True
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
