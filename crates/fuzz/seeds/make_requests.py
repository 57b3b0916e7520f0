"""Make the request seeds of the HTTP targets (seeds/serve/, seeds/face_api/); the outputs are committed.

Each seed is one HTTP/1.1 request as a browser or an SDK writes it; `{NAME}` placeholders (port, faceIds, personIds)
are filled in by the test once its server has them. Photos are the image seeds (seeds/images/, made from a real
photo by make_images.py). Face API bodies follow the request examples of the Face v1.2 REST specification
(../shared/azure/spec/.../examples/*.json) with the ids of the test's own store.

    python3 make_requests.py
"""

import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "images")


def image(name):
    with open(os.path.join(IMAGES, name), "rb") as f:
        return f.read()


def request(method, target, headers, body=b""):
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode() + body


def write(folder, name, data):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


def multipart(boundary, parts):
    out = b""
    for headers, content in parts:
        out += b"--" + boundary.encode() + b"\r\n" + "".join(f"{h}\r\n" for h in headers).encode() + b"\r\n" + content + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"


jpg, png, webp = image("baseline.jpg"), image("rgb.png"), image("lossy.webp")

# ---- issc serve: /predict (raw and multipart), /predict_json (base64, data URL, url) ----
write("serve", "predict_raw_jpeg.http", request("POST", "/predict?top_k=3", [("Content-Type", "image/jpeg")], jpg))
write("serve", "predict_octet_png.http", request("POST", "/predict", [("Content-Type", "application/octet-stream")], png))
# What Chrome and Safari send for FormData: a boundary with capital letters.
b = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
write("serve", "predict_multipart_webkit.http", request(
    "POST", "/predict", [("Content-Type", f"multipart/form-data; boundary={b}")],
    multipart(b, [(['Content-Disposition: form-data; name="image"; filename="face.jpg"', "Content-Type: image/jpeg"], jpg)])))
# What curl -F sends: a lower-case boundary; a text field before the image; a Unicode file name.
b = "------------------------d74496d66958873e"
write("serve", "predict_multipart_curl.http", request(
    "POST", "/predict?top_k=1", [("Content-Type", f"multipart/form-data; boundary={b}")],
    multipart(b, [(['Content-Disposition: form-data; name="note"'], "été 😀".encode()),
                  (['Content-Disposition: form-data; name="image"; filename="фото.webp"', "Content-Type: image/webp"], webp)])))
b = "quoted-boundary_0"
write("serve", "predict_multipart_quoted.http", request(
    "POST", "/predict", [("Content-Type", f'multipart/form-data; boundary="{b}"')],
    multipart(b, [(['Content-Disposition: form-data; name="image"'], png)])))
b64 = base64.b64encode(jpg).decode()
write("serve", "predict_json_base64.http", request(
    "POST", "/predict_json", [("Content-Type", "application/json")], json.dumps({"image_base64": b64, "top_k": 2}).encode()))
write("serve", "predict_json_data_url.http", request(
    "POST", "/predict_json", [("Content-Type", "application/json; charset=utf-8")],
    json.dumps({"image_base64": "data:image/webp;base64," + base64.b64encode(webp).decode().rstrip("=")}).encode()))
write("serve", "predict_json_url.http", request(
    "POST", "/predict_json", [("Content-Type", "application/json")], json.dumps({"url": "http://127.0.0.1:{PORT}/photo.jpg", "top_k": 3}).encode()))

# ---- the Face API (issc serve --store) ----
F = "/face/v1.2"
J = [("Content-Type", "application/json"), ("Ocp-Apim-Subscription-Key", "{KEY}")]
O = [("Content-Type", "application/octet-stream"), ("Ocp-Apim-Subscription-Key", "{KEY}")]
K = [("Ocp-Apim-Subscription-Key", "{KEY}")]
face = {
    "detect.http": ("POST", F + "/detect?returnFaceId=true&returnFaceLandmarks=true&recognitionModel=recognition_04&detectionModel=detection_03&returnRecognitionModel=true&faceIdTimeToLive=60", O, jpg),
    "detect_png_v10.http": ("POST", "/face/v1.0/detect?returnFaceId=true&recognitionModel=recognition_01", O, png),
    "detect_url.http": ("POST", F + "/detect?returnFaceId=false", J, {"url": "http://127.0.0.1:{PORT}/photo.jpg"}),
    "verify_faces.http": ("POST", F + "/verify", J, {"faceId1": "{FACE1}", "faceId2": "{FACE2}"}),
    "verify_person.http": ("POST", F + "/verify", J, {"faceId": "{FACE1}", "personId": "{PERSON}", "largePersonGroupId": "lpg"}),
    "identify_pg.http": ("POST", F + "/identify", J, {"faceIds": ["{FACE1}"], "personGroupId": "pg", "maxNumOfCandidatesReturned": 9, "confidenceThreshold": 0.7}),
    "identify_lpg.http": ("POST", F + "/identify", J, {"faceIds": ["{FACE1}", "{FACE2}"], "largePersonGroupId": "lpg", "maxNumOfCandidatesReturned": 1}),
    "findsimilars_ids.http": ("POST", F + "/findsimilars", J, {"faceId": "{FACE1}", "faceIds": ["{FACE2}", "{FACE1}"], "maxNumOfCandidatesReturned": 3, "mode": "matchPerson"}),
    "findsimilars_lfl.http": ("POST", F + "/findsimilars", J, {"faceId": "{FACE1}", "largeFaceListId": "lfl", "mode": "matchFace"}),
    "findsimilars_fl.http": ("POST", F + "/findsimilars", J, {"faceId": "{FACE1}", "faceListId": "fl"}),
    "group.http": ("POST", F + "/group", J, {"faceIds": ["{FACE1}", "{FACE2}", "{FACE1}"]}),
    "create_pg.http": ("PUT", F + "/persongroups/new_group-1", J, {"name": "group", "userData": "data", "recognitionModel": "recognition_04"}),
    "update_lpg.http": ("PATCH", F + "/largepersongroups/lpg", J, {"name": "renamed", "userData": "more"}),
    "get_pg.http": ("GET", F + "/persongroups/pg?returnRecognitionModel=true", K, None),
    "list_lpg.http": ("GET", F + "/largepersongroups?start=a&top=10&returnRecognitionModel=true", K, None),
    "create_person.http": ("POST", F + "/largepersongroups/lpg/persons", J, {"name": "Ada", "userData": "x"}),
    "list_persons.http": ("GET", F + "/persongroups/pg/persons?start={PERSON}&top=2", K, None),
    "get_person.http": ("GET", F + "/largepersongroups/lpg/persons/{PERSON}", K, None),
    "update_person.http": ("PATCH", F + "/persongroups/pg/persons/{PGPERSON}", J, {"name": "Ada L", "userData": "y"}),
    "add_person_face.http": ("POST", F + "/largepersongroups/lpg/persons/{PERSON}/persistedfaces?userData=u&targetFace=0,0,32,32&detectionModel=detection_01", O, webp),
    "get_person_face.http": ("GET", F + "/largepersongroups/lpg/persons/{PERSON}/persistedfaces/{PFACE}", K, None),
    "update_person_face.http": ("PATCH", F + "/largepersongroups/lpg/persons/{PERSON}/persistedfaces/{PFACE}", J, {"userData": "z"}),
    "add_list_face_url.http": ("POST", F + "/facelists/fl/persistedfaces?userData=u", J, {"url": "http://127.0.0.1:{PORT}/photo.jpg"}),
    "add_large_list_face.http": ("POST", F + "/largefacelists/lfl/persistedfaces?userData=u", O, png),
    "list_large_list_faces.http": ("GET", F + "/largefacelists/lfl/persistedfaces?top=1", K, None),
    "train_lpg.http": ("POST", F + "/largepersongroups/lpg/train", K, b""),
    "training_lfl.http": ("GET", F + "/largefacelists/lfl/training", K, None),
    "delete_face.http": ("DELETE", F + "/largefacelists/lfl/persistedfaces/{LFACE}", K, None),
    "delete_person.http": ("DELETE", F + "/persongroups/pg/persons/{PGPERSON}", K, None),
    "operation.http": ("GET", F + "/operations/{OPERATION}", K, None),
}
for name, (method, target, headers, body) in face.items():
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    write("face_api", name, request(method, target, headers, body or b""))
print("ok")
