"""Make seeds/azure_responses/: the answers of the Face v1.2 REST specification's examples (the `responses` of
../shared/azure/spec/specification/ai/data-plane/Face/stable/v1.2/examples/*.json), one per client call the
`azure_client` target makes, plus the service's error answers. Each seed is {"op", "status", "headers", "body"};
the test's server answers with it (a string body is sent as is, anything else as JSON).

    python3 make_azure_responses.py
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "..", "..", "..", "shared", "azure", "spec", "specification", "ai", "data-plane",
                    "Face", "stable", "v1.2", "examples")
OUT = os.path.join(HERE, "azure_responses")
os.makedirs(OUT, exist_ok=True)

CALLS = {
    "detect": "Detect.json",
    "identify": "FaceRecognitionOperations_IdentifyFromLargePersonGroup.json",
    "verify": "FaceRecognitionOperations_VerifyFaceToFace.json",
    "findsimilars": "FaceRecognitionOperations_FindSimilar.json",
    "group": "FaceRecognitionOperations_Group.json",
    "get_lpg": "PersonGroupOperations_GetLargePersonGroup.json",
    "list_lpg": "PersonGroupOperations_GetLargePersonGroups.json",
    "get_person": "PersonGroupOperations_GetLargePersonGroupPerson.json",
    "list_persons": "PersonGroupOperations_GetLargePersonGroupPersons.json",
    "create_person": "PersonGroupOperations_CreateLargePersonGroupPerson.json",
    "add_face": "PersonGroupOperations_AddLargePersonGroupPersonFaceFromStream.json",
    "get_face": "PersonGroupOperations_GetLargePersonGroupPersonFace.json",
    "training_status": "PersonGroupOperations_GetLargePersonGroupTrainingStatus.json",
    "train": "PersonGroupOperations_TrainLargePersonGroup.json",
    "get_face_list": "FaceListOperations_GetFaceList.json",
    "list_large_face_list_faces": "FaceListOperations_GetLargeFaceListFaces.json",
    "liveness_result": "LivenessSessionOperations_GetLivenessSessionResult.json",
    "liveness_verify_result": "LivenessSessionOperations_GetLivenessWithVerifySessionResult.json",
    "create_liveness": "LivenessSessionOperations_CreateLivenessSession.json",
}
for op, name in CALLS.items():
    ex = json.load(open(os.path.join(SPEC, name)))
    status, resp = next(iter(ex["responses"].items()))
    headers = {k.lower(): str(v) for k, v in resp.get("headers", {}).items()}
    headers.setdefault("apim-request-id", "5c9f2d7e-0000-4000-8000-000000000000")
    seed = {"op": op, "status": int(status), "headers": headers, "body": resp.get("body", "")}
    json.dump(seed, open(os.path.join(OUT, f"{op}.json"), "w"), indent=1)

errors = [
    ("identify", 400, {"x-ms-error-code": "BadArgument"}, {"error": {"code": "BadArgument", "message": "Request body is invalid."}}),
    ("get_lpg", 404, {}, {"error": {"code": "LargePersonGroupNotFound", "message": "Large person group is not found."}}),
    ("detect", 401, {"www-authenticate": "Bearer"}, {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint."}}),
    ("verify", 429, {"retry-after": "1", "x-ms-retry-after-ms": "20"}, {"error": {"code": "429", "message": "Rate limit is exceeded. Try again in 1 seconds."}}),
    ("group", 503, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, "<html>Service Unavailable</html>"),
    ("training_status", 409, {"x-ms-error-code": "PersonGroupTrainingNotFinished"}, {"error": {"code": 409, "message": None}}),
]
for op, status, headers, body in errors:
    seed = {"op": op, "status": status, "headers": headers, "body": body}
    json.dump(seed, open(os.path.join(OUT, f"error_{status}_{op}.json"), "w"), indent=1)
print(len(os.listdir(OUT)), "seeds")
